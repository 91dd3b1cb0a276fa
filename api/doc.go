// Package api holds the wire types shared by the control plane, the edge and
// the CLI: tenants, workers, versions and worker settings as they travel in
// JSON, and the Wedge-Error codes with the HTTP status each one maps to; and
// the rules every layer applies to names, keys and values: ValidName,
// ValidEnvName, ValidKVNamespace, CheckKVKey, CheckSecretValue and the
// Max… limits.
//
// It depends on the standard library only, so any package may import it.
// Values are plain data and safe to copy; nothing here holds state.
package api
