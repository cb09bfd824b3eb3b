module kk.dk/jobogfamilie/services

go 1.26.8
