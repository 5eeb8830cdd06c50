module sonde.test/gohop

go 1.21
