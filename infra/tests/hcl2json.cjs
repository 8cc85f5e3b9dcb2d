// Parses HCL files with the pinned @cdktf/hcl2json (HashiCorp's HCL parser compiled to
// WebAssembly) and prints {"<file>": {"json": <parsed>} | {"error": "<message>"}} on stdout.
// Usage: node hcl2json.cjs <node_modules dir> <file>...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main() {
  const [modulesDir, ...files] = process.argv.slice(2);
  const { parse } = require(path.join(modulesDir, "@cdktf", "hcl2json"));
  const result = {};
  for (const file of files) {
    try {
      result[file] = { json: await parse(file, fs.readFileSync(file, "utf8")) };
    } catch (error) {
      result[file] = { error: String(error && error.message ? error.message : error) };
    }
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((error) => {
  process.stderr.write(`hcl2json: ${error && error.stack ? error.stack : error}\n`);
  process.exit(2);
});
