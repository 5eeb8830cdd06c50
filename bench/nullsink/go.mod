module sonde-bench/nullsink

go 1.21
