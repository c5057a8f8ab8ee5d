// Swagger UI in a real browser (Debian's Chromium, driven by playwright-core): open /docs,
// authorize with a token, "Try it out" on GET /api/v1/users, and see a 200 with accounts in it.
// ROSTER_URL, ROSTER_TOKEN and SCREENSHOT (where the page's picture goes) come from the caller.
import { chromium } from "playwright-core";

const base = process.env.ROSTER_URL ?? "http://127.0.0.1:8080";
const token = process.env.ROSTER_TOKEN;
const screenshot = process.env.SCREENSHOT ?? "swagger-ui.png";
const expectUsername = process.env.EXPECT_USERNAME ?? "admin";
if (!token) throw new Error("ROSTER_TOKEN is not set");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // This machine has no internet: without these flags Chromium keeps trying to reach Google.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  page.setDefaultTimeout(15_000);
  const failures = [];
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => failures.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  // Swagger UI must work under the Content-Security-Policy Roster sends on /docs: anything it
  // blocks is a failure.
  page.on("console", (m) => {
    if (m.type() === "error" && /Content[- ]Security[- ]Policy/i.test(m.text())) failures.push(`CSP: ${m.text()}`);
  });

  const docs = await page.goto(`${base}/docs`);
  if (!(docs?.headers()["content-security-policy"] ?? "").includes("script-src 'self'")) {
    failures.push(`no Content-Security-Policy on /docs: ${JSON.stringify(docs?.headers())}`);
  }
  await page.locator(".swagger-ui .info .title").filter({ hasText: "Roster" }).waitFor();

  // Authorize: the bearer scheme takes the token as it is.
  await page.locator(".swagger-ui .auth-wrapper .authorize").click();
  const dialog = page.locator(".swagger-ui .modal-ux");
  await dialog.locator("input#auth-bearer-value").fill(token);
  await dialog.locator("button.modal-btn.authorize").click();
  await dialog.locator("button.modal-btn.btn-done").click();

  // Try it out on GET /api/v1/users (element ids are operations-<tag>-<operationId>).
  const operation = page.locator("#operations-users-list_users");
  await operation.locator(".opblock-summary").click();
  await operation.getByRole("button", { name: "Try it out" }).click();
  await operation.getByRole("button", { name: "Execute" }).click();
  const live = operation.locator(".live-responses-table tbody tr.response");
  await live.first().waitFor();
  const status = (await live.first().locator(".response-col_status").innerText()).trim();
  const body = await live.first().locator(".response-col_description pre").first().innerText();
  await operation.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`swagger ui: screenshot at ${screenshot}`);

  if (status !== "200") throw new Error(`Try it out answered ${status}: ${body.slice(0, 300)}`);
  const items = JSON.parse(body).items;
  if (!Array.isArray(items) || !items.some((u) => u.username === expectUsername)) {
    throw new Error(`the 200 holds no account named ${expectUsername}: ${body.slice(0, 300)}`);
  }
  if (failures.length) throw new Error(failures.join("\n"));
  console.log(`swagger ui: authorized, Try it out on GET /api/v1/users answered 200 with ${items.length} accounts`);
} finally {
  await browser.close();
}
