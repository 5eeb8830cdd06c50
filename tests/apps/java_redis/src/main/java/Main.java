// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
//
// Java's two Redis clients, as applications use them, for sonde's tests: no OpenTelemetry,
// every span sonde reports comes from watching the process from outside.
//
//   java -cp target/classes:target/lib/* Main jedis-pipeline PORT N
//       one Jedis connection: a pipeline of N SET and N GET (written together, read after),
//       then a MULTI/EXEC of N INCR, then N plain GET one at a time
//   java -cp ... Main lettuce PORT N
//       one Lettuce connection (RESP3: it opens with HELLO 3): N SET and N GET issued at once
//       through the async API (Lettuce writes what is issued together in one go), then N GET
//       one at a time
//
// It prints "OK <commands>" with the count of the commands it issued, after the last reply.
import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.Transaction;

public final class Main {
    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Main jedis-pipeline|lettuce PORT N");
            System.exit(2);
        }
        int port = Integer.parseInt(args[1]);
        int n = Integer.parseInt(args[2]);
        long commands;
        switch (args[0]) {
            case "jedis-pipeline":
                commands = jedis(port, n);
                break;
            case "lettuce":
                commands = lettuce(port, n);
                break;
            default:
                System.err.println("unknown mode " + args[0]);
                System.exit(2);
                return;
        }
        System.out.println("OK " + commands);
    }

    private static long jedis(int port, int n) {
        try (Jedis j = new Jedis("127.0.0.1", port)) {
            Pipeline p = j.pipelined();
            List<Response<String>> got = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                p.set("jedis:" + i, "v" + i);
                got.add(p.get("jedis:" + i));
            }
            p.sync();
            for (int i = 0; i < n; i++) {
                check(got.get(i).get(), "v" + i);
            }
            Transaction t = j.multi();
            for (int i = 0; i < n; i++) {
                t.incr("jedis:counter");
            }
            List<Object> done = t.exec();
            check(String.valueOf(done.size()), String.valueOf(n));
            for (int i = 0; i < n; i++) {
                check(j.get("jedis:" + i), "v" + i);
            }
            return 2L * n + (n + 2) + n;
        }
    }

    private static long lettuce(int port, int n) throws Exception {
        RedisClient client = RedisClient.create("redis://127.0.0.1:" + port);
        try (StatefulRedisConnection<String, String> conn = client.connect()) {
            RedisAsyncCommands<String, String> a = conn.async();
            List<RedisFuture<?>> all = new ArrayList<>();
            List<RedisFuture<String>> got = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                all.add(a.set("lettuce:" + i, "v" + i));
                RedisFuture<String> g = a.get("lettuce:" + i);
                got.add(g);
                all.add(g);
            }
            if (!LettuceFutures.awaitAll(Duration.ofSeconds(30), all.toArray(new RedisFuture[0]))) {
                throw new IllegalStateException("lettuce: replies did not come");
            }
            for (int i = 0; i < n; i++) {
                check(got.get(i).get(), "v" + i);
            }
            for (int i = 0; i < n; i++) {
                check(conn.sync().get("lettuce:" + i), "v" + i);
            }
            return 3L * n;
        } finally {
            client.shutdown();
        }
    }

    private static void check(String got, String want) {
        if (!want.equals(got)) {
            throw new IllegalStateException("want " + want + ", got " + got);
        }
    }
}
