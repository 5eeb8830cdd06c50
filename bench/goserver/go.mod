module sonde-bench/goserver

go 1.21
