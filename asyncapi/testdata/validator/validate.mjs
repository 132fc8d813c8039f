// Validates an AsyncAPI document (a file, or standard input) with the
// official parser, @asyncapi/parser. Prints every diagnostic; exits 1 if
// any is an error (or, with --strict, a warning).
//
//   node validate.mjs [--strict] [file]
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const file = args.find((a) => a !== '--strict');
const text = readFileSync(file ?? 0, 'utf8');

const parser = new Parser();
const { document, diagnostics } = await parser.parse(text);
const names = Object.fromEntries(Object.entries(DiagnosticSeverity).map(([k, v]) => [v, k]));
let failed = document === undefined;
for (const d of diagnostics) {
  const bad = d.severity === DiagnosticSeverity.Error || (strict && d.severity === DiagnosticSeverity.Warning);
  failed ||= bad;
  console.log(`${names[d.severity] ?? d.severity} ${d.code} at /${d.path.join('/')}: ${d.message}`);
}
if (failed) {
  console.log('INVALID');
  process.exit(1);
}
console.log(`valid AsyncAPI ${document.version()}: ${document.operations().length} operations, ${document.channels().length} channels`);
