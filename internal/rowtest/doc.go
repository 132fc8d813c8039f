// Package rowtest is test support for comparing API results with the
// mariadb command-line client: it splits a JSON result into its rows,
// runs the client, and turns what the client prints for a value into the
// JSON the API (rowjson) returns for it, as README "Types in results"
// documents.
package rowtest
