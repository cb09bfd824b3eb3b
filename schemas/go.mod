module kk.dk/jobogfamilie/schemas

go 1.26.8
