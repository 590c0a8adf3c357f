module scatter

go 1.26
