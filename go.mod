module github.com/omamori-project/omamori

go 1.26.8
