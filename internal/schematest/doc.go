// Package schematest is test support for the JSON Schemas dbapi
// publishes (parameter and result schemas): it compiles one the way the
// tests hold values against it, asserting formats (date-time, ...) and
// content encodings (base64) as the service's decoder does.
package schematest
