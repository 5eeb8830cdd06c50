/*
 * A plain HTTP/1.1 test service for sonde's integration tests (JDK only, no tracing library).
 *
 *     java tests/apps/JavaHop.java --port 0 [--threads N]
 *
 * Runs with Java's single-file source launcher (Java 17+). Prints "LISTENING <port>" on stdout once
 * it accepts connections (--port 0 picks a free port); errors go to stderr. Listens on 127.0.0.1
 * with com.sun.net.httpserver.HttpServer, whose executor is a fixed pool of --threads threads
 * (default 16). Routes (GET; <k> is any token, next is a URL-encoded absolute http:// URL):
 *
 *     GET /                     200 "ok"
 *     GET /url/<k>?next=URL     calls GET URL with HttpURLConnection on the handler thread
 *     GET /sync/<k>?next=URL    calls GET URL with the shared HttpClient's send(...)
 *     GET /async/<k>?next=URL   calls GET URL with the shared HttpClient's sendAsync(...).join()
 *     GET /exec/<k>?next=URL    a task of a shared 4-thread ExecutorService calls GET URL with
 *                               HttpURLConnection; the handler waits with future.get()
 *     anything else             404
 *
 * The hop routes answer 200 "<route> <k> <status>\n", or 502 with the exception message if the
 * downstream call throws (400 if next is missing). The HttpClient is forced to HTTP/1.1 and uses
 * its default executor. SIGTERM ends the process (default JVM behaviour).
 */

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URL;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class JavaHop {
    private static final int TIMEOUT_MS = 30_000;

    private static HttpClient client;
    private static ExecutorService execPool;

    public static void main(String[] args) throws Exception {
        int port = 0;
        int threads = 16;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            try {
                if (a.equals("--port") && i + 1 < args.length) {
                    port = Integer.parseInt(args[++i]);
                } else if (a.startsWith("--port=")) {
                    port = Integer.parseInt(a.substring("--port=".length()));
                } else if (a.equals("--threads") && i + 1 < args.length) {
                    threads = Integer.parseInt(args[++i]);
                } else if (a.startsWith("--threads=")) {
                    threads = Integer.parseInt(a.substring("--threads=".length()));
                } else {
                    usage("unknown or incomplete argument: " + a);
                }
            } catch (NumberFormatException e) {
                usage("not a number in argument: " + a);
            }
        }
        if (port < 0 || port > 65535 || threads < 1) {
            usage("bad --port or --threads");
        }

        client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofMillis(TIMEOUT_MS))
                .build();

        // Shared pool for /exec; start its 4 threads now so they exist before any request.
        execPool = Executors.newFixedThreadPool(4);
        List<Future<?>> warm = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            warm.add(execPool.submit(() -> { }));
        }
        for (Future<?> f : warm) {
            f.get();
        }

        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
        } catch (IOException e) {
            System.err.println("JavaHop: cannot listen on 127.0.0.1:" + port + ": " + e);
            System.exit(1);
            return;
        }
        server.setExecutor(Executors.newFixedThreadPool(threads));
        server.createContext("/", JavaHop::handle);
        server.start();

        PrintStream out = System.out;
        out.print("LISTENING " + server.getAddress().getPort() + "\n");
        out.flush();
    }

    private static void usage(String msg) {
        System.err.println("JavaHop: " + msg);
        System.err.println("usage: java JavaHop.java --port PORT [--threads N]");
        System.exit(2);
    }

    private static void handle(HttpExchange ex) {
        try {
            drain(ex.getRequestBody());
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getRawPath();
            if (path == null) {
                path = "";
            }
            if (!method.equals("GET")) {
                respond(ex, 404, "not found\n");
                return;
            }
            if (path.equals("/")) {
                respond(ex, 200, "ok\n");
                return;
            }
            String[] parts = path.split("/", -1); // "", route, k
            if (parts.length != 3 || parts[2].isEmpty()) {
                respond(ex, 404, "not found\n");
                return;
            }
            String route = parts[1];
            String k = parts[2];
            if (!route.equals("url") && !route.equals("sync")
                    && !route.equals("async") && !route.equals("exec")) {
                respond(ex, 404, "not found\n");
                return;
            }
            String next = queryParam(ex.getRequestURI().getRawQuery(), "next");
            if (next == null || next.isEmpty()) {
                respond(ex, 400, "missing next\n");
                return;
            }
            int status;
            try {
                switch (route) {
                    case "url":
                        status = callUrlConnection(next);
                        break;
                    case "sync":
                        status = callSync(next);
                        break;
                    case "async":
                        status = callAsync(next);
                        break;
                    default: // exec
                        final String target = next;
                        Future<Integer> f = execPool.submit(() -> callUrlConnection(target));
                        status = f.get();
                        break;
                }
            } catch (Throwable t) {
                Throwable c = t;
                while ((c instanceof ExecutionException || c instanceof CompletionException)
                        && c.getCause() != null) {
                    c = c.getCause();
                }
                if (c instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                String msg = c.getMessage() != null ? c.getMessage() : c.toString();
                respond(ex, 502, msg + "\n");
                return;
            }
            respond(ex, 200, route + " " + k + " " + status + "\n");
        } catch (Throwable t) {
            System.err.println("JavaHop: handler error: " + t);
        } finally {
            ex.close();
        }
    }

    /** GET url with HttpURLConnection on the calling thread; reads the whole body. */
    private static int callUrlConnection(String url) throws IOException {
        HttpURLConnection conn = (HttpURLConnection) new URL(url).openConnection();
        conn.setRequestMethod("GET");
        conn.setConnectTimeout(TIMEOUT_MS);
        conn.setReadTimeout(TIMEOUT_MS);
        int status = conn.getResponseCode();
        // Read the whole body (error stream for >= 400) so the connection can be kept alive.
        InputStream in = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
        if (in != null) {
            try (InputStream body = in) {
                drain(body);
            }
        }
        return status;
    }

    private static HttpRequest request(String url) {
        return HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofMillis(TIMEOUT_MS))
                .GET()
                .build();
    }

    private static int callSync(String url) throws IOException, InterruptedException {
        HttpResponse<String> resp = client.send(request(url), HttpResponse.BodyHandlers.ofString());
        return resp.statusCode();
    }

    private static int callAsync(String url) {
        HttpResponse<String> resp =
                client.sendAsync(request(url), HttpResponse.BodyHandlers.ofString()).join();
        return resp.statusCode();
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(bytes);
            }
        }
    }

    private static String queryParam(String rawQuery, String name) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            String key = eq < 0 ? pair : pair.substring(0, eq);
            if (URLDecoder.decode(key, StandardCharsets.UTF_8).equals(name)) {
                return eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    private static void drain(InputStream in) throws IOException {
        byte[] buf = new byte[8192];
        while (in.read(buf) != -1) {
            // discard
        }
    }
}
