module github.com/wedgeworks/wedge/sdk/go

go 1.24
