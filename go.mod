module github.com/sadb-dev/sadb

go 1.26
