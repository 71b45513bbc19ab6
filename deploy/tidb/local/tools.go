//go:build tools

// Package local pins tidb-server as a build dependency of this wrapper module.
package local

import _ "github.com/pingcap/tidb/cmd/tidb-server"
