// Browser tests of `fleetlab serve`: Playwright (playwright-core) driving the
// system Chromium. run.sh starts the server and sets FLEETLAB_URL,
// FLEETLAB_BIN and CHROMIUM.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const URL = process.env.FLEETLAB_URL;
const BIN = process.env.FLEETLAB_BIN;
const ROOT = resolve(import.meta.dirname, "../..");
const DEVICES = "scenarios/contoso/devices.json";
const RULE = '(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))';

let context;
let profile;

before(async () => {
  assert.ok(URL, "FLEETLAB_URL is not set (run tests/browser/run.sh)");
  profile = mkdtempSync(join(tmpdir(), "fleetlab-chromium-"));
  // A fresh profile directory (Chromium's --user-data-dir) for every run.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    headless: true,
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** A page that records console errors, page errors and failed requests. */
async function open(hash) {
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(`${URL}/${hash}`);
  return { page, problems };
}

function cliCount(rule) {
  const out = execFileSync(BIN, ["eval", "--devices", DEVICES, "--rule", rule], { cwd: ROOT, encoding: "utf8" });
  return out.split("\n").filter((l) => l).length;
}

async function typeRule(page, rule) {
  const input = page.getByTestId("rule-input");
  await input.fill("");
  await input.pressSequentially(rule, { delay: 2 });
}

test("typing a rule shows the member count fleetlab eval gives", async () => {
  const { page, problems } = await open("#lab");
  await typeRule(page, RULE);
  const expected = String(cliCount(RULE));
  await page.getByTestId("member-count").filter({ hasText: expected }).waitFor({ timeout: 10000 });
  assert.equal(await page.getByTestId("member-count").textContent(), expected);
  assert.equal(await page.getByTestId("diagnostic").count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test("an en dash in a rule shows a diagnostic with its help and underlines it", async () => {
  const { page, problems } = await open("#lab");
  await typeRule(page, 'device.deviceOSType –eq "Windows"');
  const diagnostic = page.getByTestId("diagnostic").first();
  await diagnostic.waitFor({ timeout: 10000 });
  const text = await diagnostic.textContent();
  assert.match(text, /en dash/);
  assert.match(text, /column 21/);
  assert.equal(await page.locator("#rule-mirror mark.err-span").textContent(), "–");
  assert.deepEqual(problems, []);
  await page.close();
});

test("clicking a member shows its explain tree; the screenshot of the Rule lab", async () => {
  const { page, problems } = await open("#lab");
  await typeRule(page, RULE);
  const first = page.locator("#member-table tbody button").first();
  await first.waitFor({ timeout: 10000 });
  await first.click();
  const tree = page.getByTestId("explain-tree");
  await tree.locator("li").first().waitFor({ timeout: 10000 });
  const items = await tree.locator("li").count();
  assert.ok(items >= 3, `explain tree has ${items} items`);
  assert.match(await tree.textContent(), /device\.deviceOSType/);
  assert.match(await tree.locator("li").first().locator(".pass").first().textContent(), /true/);
  // Keyboard: the pager works without a mouse.
  await page.locator("#next").focus();
  await page.keyboard.press("Enter");
  await page.locator("#page-info").filter({ hasText: /^101–/ }).waitFor({ timeout: 10000 }).catch(() => {});
  await page.locator("#prev").focus();
  await page.keyboard.press("Enter");
  await page.locator("#page-info").filter({ hasText: /^1–/ }).waitFor({ timeout: 10000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: false });
  assert.deepEqual(problems, []);
  await page.close();
});

test("the groups and tenant pages render with no console errors", async () => {
  const { page, problems } = await open("#groups");
  await page.locator("#groups-table tbody tr").first().waitFor({ timeout: 10000 });
  assert.ok((await page.locator("#groups-table tbody tr").count()) > 5);
  await page.goto(`${URL}/#tenant`);
  await page.locator("#profiles-table tbody tr").first().waitFor({ timeout: 10000 });
  assert.ok((await page.locator("#profiles-table tbody tr").count()) >= 1);
  await page.locator("#flow-figure svg").waitFor({ timeout: 10000 });
  assert.ok((await page.locator("#flow-figure svg rect").count()) > 5);
  assert.match(await page.getByTestId("tenant-body").textContent(), /registered with Autopilot/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the simulate page runs a bundled scenario with a progress bar and shows the report", async () => {
  const { page, problems } = await open("#simulate");
  await page.locator("#sim-bundled option").first().waitFor({ state: "attached", timeout: 10000 });
  await page.selectOption("#sim-bundled", "s4-esp-timeout");
  await page.fill("#sim-reps", "20");
  await page.click("#sim-run");
  await page.locator("#sim-state").filter({ hasText: /^done/ }).waitFor({ timeout: 120000 });
  assert.equal(await page.getByTestId("sim-progress").evaluate((p) => p.value === p.max), true);
  await page.locator("#sim-report:not([hidden])").waitFor({ timeout: 10000 });
  const frame = page.frameLocator("#sim-report");
  await frame.locator("svg").first().waitFor({ timeout: 10000 });
  assert.deepEqual(problems, []);
  await page.close();
});
