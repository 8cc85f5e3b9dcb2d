// Regenerates the TypeScript stubs in src/gen from proto/ with the repository's pinned buf
// (tools/buf). src/gen is never edited or committed; every build, type check and test run
// regenerates it so the client always compiles against the current contract.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const buf = join(repoRoot, "tools", "buf", "node_modules", ".bin", "buf");
const generated = join(repoRoot, "client-web", "src", "gen");

if (process.env.CDP_SKIP_GENERATE === "1") {
  process.exit(0);
}
if (!existsSync(buf)) {
  if (existsSync(generated)) {
    console.warn(`warning: ${buf} is missing; using the existing src/gen (run "npm ci" in tools/buf to regenerate)`);
    process.exit(0);
  }
  console.error(`error: ${buf} is missing: run "npm ci" in tools/buf first`);
  process.exit(1);
}
const result = spawnSync(buf, ["generate"], { cwd: repoRoot, stdio: "inherit" });
process.exit(result.status ?? 1);
