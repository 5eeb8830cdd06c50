module sonde-bench/loadgen

go 1.21
