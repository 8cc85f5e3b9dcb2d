// Screenshot of one URL: node tools/screenshot.mjs <url> <out.png> [width] [height]
// Used to look at a page by eye (e.g. the sign-in page served by `vite preview`).
import { launchBrowser } from "../lib/browser.mjs";

const [url, out, width = "1440", height = "900"] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node tools/screenshot.mjs <url> <out.png> [width] [height]");
  process.exit(2);
}
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
  page.on("console", (m) => console.log(`[console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => console.log(`[pageerror] ${e.message}`));
  await page.goto(url, { waitUntil: "networkidle" });
  await page.waitForTimeout(500);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
}
