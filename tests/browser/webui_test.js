// The browser test of the web page `sdpp serve` answers at /.
//
// Starts `sdpp serve` on a free loopback port with the sd1-tiny fixture model, opens the page in
// headless Chromium (Debian's package, driven by playwright-core) and, as a person would:
//   1. sees the model, sampler and scheduler lists filled from the API;
//   2. types a prompt, generates, sees the image with its parameters in the gallery;
//   3. starts a longer run, sees the progress bar and the live preview move, interrupts it and
//      gets the page back within seconds;
//   4. uploads an image, paints a mask and inpaints it;
//   5. switches the model with the picker and generates with the new one;
//   6. looks at the page in a narrow window.
// Screenshots of each step go to --out. The page may load nothing from outside the server.
//
//   node webui_test.js --sdpp BIN --chromium BIN --fixtures DIR --out DIR [--url URL]
// --url tests a server that is already running instead of starting one.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const net = require("net");
const path = require("path");
const { chromium } = require("playwright-core");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const OUT = args.out || ".";
const started = Date.now();
let passed = 0, failed = 0;

function log(msg) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`); }
function check(cond, what) {
  if (cond) { passed++; log("ok   " + what); }
  else { failed++; log("FAIL " + what); }
  return cond;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitForServer(url, proc, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error("sdpp serve exited with " + proc.exitCode);
    try {
      const r = await fetch(url + "sdapi/v1/options");
      if (r.ok) return;
    } catch (e) { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("sdpp serve did not answer within " + ms / 1000 + " s");
}

async function startServer() {
  if (args.url) return { url: args.url.endsWith("/") ? args.url : args.url + "/", proc: null, logs: () => "" };
  const fixtures = path.resolve(args.fixtures);
  const modelsDir = path.join(fixtures, "models");
  const model = path.join(modelsDir, "sd1-tiny", "sd1-tiny.safetensors");
  if (!fs.existsSync(model)) throw new Error("no fixture model at " + model + " (set SDPP_FIXTURES)");
  const port = await freePort();
  const argv = ["serve", "--models-dir", modelsDir, "-m", model, "--vocab", path.join(fixtures, "clip"),
                "--host", "127.0.0.1", "--port", String(port)];
  log("starting: " + args.sdpp + " " + argv.join(" "));
  const proc = spawn(args.sdpp, argv, { stdio: ["ignore", "pipe", "pipe"],
                                        env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" } });
  let output = "";
  proc.stdout.on("data", (d) => { output += d; });
  proc.stderr.on("data", (d) => { output += d; });
  const url = `http://127.0.0.1:${port}/`;
  await waitForServer(url, proc, 30000);
  log("server up at " + url);
  return { url, proc, logs: () => output };
}

// Sets an input the way typing does (the page listens to input and change).
async function setField(page, id, value) {
  await page.fill("#" + id, String(value));
  await page.dispatchEvent("#" + id, "change");
}

async function shot(page, name) {
  const file = path.join(OUT, name);
  await page.waitForTimeout(400);  // let the progress bar's 0.3 s transition settle
  await page.screenshot({ path: file });
  log("screenshot " + file);
}

async function run() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: args.chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const errors = [], outside = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("request", (r) => {
      const u = r.url();
      if (!u.startsWith(server.url) && !u.startsWith("data:") && !u.startsWith("blob:")) outside.push(u);
    });

    // 1. The page and its lists.
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("sampler").options.length > 0 &&
                                     document.getElementById("status-text").textContent === "ready", null, { timeout: 15000 });
    const title = await page.title();
    check(title === "sdpp", "the page at / has the title sdpp");
    const samplers = await page.$$eval("#sampler option", (o) => o.map((x) => x.value));
    check(samplers.length >= 5 && samplers.includes("Euler a"), `sampler list filled from the API (${samplers.length}: ${samplers.slice(0, 4).join(", ")}, ...)`);
    const schedulers = await page.$$eval("#scheduler option", (o) => o.map((x) => x.value));
    check(schedulers.includes("automatic") && schedulers.length >= 3, `scheduler list filled (${schedulers.join(", ")})`);
    const model = await page.$eval("#model", (s) => s.value);
    check(/sd1-tiny/.test(model), "the model picker shows the loaded model: " + model);
    await shot(page, "01-start.png");

    // 2. A short txt2img run.
    const prompt = "a lighthouse on a cliff at dusk";
    await page.click("#prompt");
    await page.keyboard.type(prompt);
    await page.fill("#negative", "blurry");
    await setField(page, "width", 64);
    await setField(page, "height", 64);
    await setField(page, "steps", 3);
    await setField(page, "seed", 42);
    await page.click("#generate");
    check(await page.isDisabled("#generate"), "Generate is disabled while the job runs");
    await page.waitForSelector("#gallery .thumb", { timeout: 30000 });
    await page.waitForFunction(() => !document.getElementById("generate").disabled, null, { timeout: 30000 });
    const first = await page.evaluate(() => {
      const img = document.getElementById("preview");
      return { w: img.naturalWidth, h: img.naturalHeight, info: document.getElementById("infotext").textContent,
               thumbs: document.querySelectorAll("#gallery .thumb").length,
               download: document.getElementById("download").getAttribute("href"),
               name: document.getElementById("download").getAttribute("download"),
               progress: document.getElementById("progress-text").textContent };
    });
    check(first.thumbs === 1, "one image in the gallery");
    check(first.w === 64 && first.h === 64, `the image is shown at its size (${first.w}x${first.h})`);
    check(first.info.startsWith(prompt), "its parameters start with the prompt");
    check(/Steps: 3,/.test(first.info) && /Seed: 42,/.test(first.info) && /Size: 64x64/.test(first.info),
          "its parameters name steps, seed and size: " + first.info.split("\n").pop());
    check(/^blob:/.test(first.download) && /\.png$/.test(first.name), "a download link to a PNG: " + first.name);
    check(/Done/.test(first.progress), "the progress line says done: " + first.progress);
    const dl = await page.evaluate(async () => {
      const b = new Uint8Array(await (await fetch(document.getElementById("download").href)).arrayBuffer());
      return { png: b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47, text: new TextDecoder("latin1").decode(b) };
    });
    check(dl.png && dl.text.includes("parameters") && dl.text.includes(prompt), "the downloaded file is a PNG with a parameters chunk");
    await shot(page, "02-generated.png");

    // 3. A long run (more steps than any machine finishes before the interrupt): progress and
    // preview, then interrupt.
    await setField(page, "steps", 1000);
    await setField(page, "batch-count", 2);
    await setField(page, "seed", -1);
    await page.click("#generate");
    await page.waitForFunction(() => /Step \d+ \/ 1000/.test(document.getElementById("progress-text").textContent) &&
                                     parseFloat(document.getElementById("progress-fill").style.width) > 0,
                               null, { timeout: 30000, polling: 50 });
    const seen = await page.$eval("#progress-text", (e) => e.textContent);
    check(true, "progress is shown while sampling: " + seen);
    let preview = true;
    try {
      await page.waitForFunction(() => document.getElementById("stage-badge").textContent === "preview" &&
                                       !document.getElementById("preview").hidden, null, { timeout: 15000, polling: 50 });
    } catch (e) { preview = false; }
    check(preview, "the live preview of the current latent is shown");
    check(!(await page.isDisabled("#interrupt")), "Interrupt is enabled while the job runs");
    await shot(page, "03-progress.png");
    const t0 = Date.now();
    await page.click("#interrupt");
    await page.waitForFunction(() => !document.getElementById("generate").disabled, null, { timeout: 20000 });
    const stopped = (Date.now() - t0) / 1000;
    const after = await page.evaluate(() => ({ text: document.getElementById("progress-text").textContent,
                                               thumbs: document.querySelectorAll("#gallery .thumb").length }));
    check(stopped < 15, `interrupt ended the job in ${stopped.toFixed(1)} s`);
    check(/Interrupted/.test(after.text), "the progress line says interrupted: " + after.text);
    check(after.thumbs >= 1 && after.thumbs <= 2, `the gallery keeps its images and at most the one finished (${after.thumbs})`);
    await shot(page, "04-interrupted.png");

    // 4. Inpainting: upload the first result, paint a mask, generate.
    const pngPath = path.join(OUT, "upload.png");
    fs.writeFileSync(pngPath, Buffer.from(await page.evaluate(async () => {
      const r = await fetch(document.getElementById("download").href);
      return Array.from(new Uint8Array(await r.arrayBuffer()));
    })));
    await page.click('#mode-tabs button[data-mode="inpaint"]');
    await page.setInputFiles("#init-file", pngPath);
    await page.waitForSelector("#mask-canvas", { state: "visible" });
    await setField(page, "brush", 12);
    const box = await page.locator("#mask-canvas").boundingBox();
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.6, { steps: 8 });
    await page.mouse.up();
    const painted = await page.evaluate(() => {
      const c = document.getElementById("mask-canvas");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 127) n++;
      return { n, total: c.width * c.height };
    });
    check(painted.n > 0 && painted.n < painted.total, `the brush paints the mask (${painted.n} of ${painted.total} pixels)`);
    await page.click("#invert-mask");
    const inverted = await page.evaluate(() => {
      const c = document.getElementById("mask-canvas");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 127) n++;
      return n;
    });
    check(inverted === painted.total - painted.n, "Invert flips the mask");
    await page.click("#invert-mask");
    await setField(page, "steps", 4);
    await setField(page, "batch-count", 1);
    await setField(page, "denoise", 0.8);
    const before = await page.$$eval("#gallery .thumb", (t) => t.length);
    await page.click("#generate");
    await page.waitForFunction((n) => document.querySelectorAll("#gallery .thumb").length > n &&
                                      !document.getElementById("generate").disabled, before, { timeout: 30000 });
    const inpaint = await page.evaluate(() => ({ info: document.getElementById("infotext").textContent,
                                                 tag: document.querySelector("#gallery .thumb .tag")?.textContent }));
    check(/Denoising strength: 0\.8/.test(inpaint.info) && inpaint.tag === "inpaint",
          "the inpainted image is in the gallery with its denoising strength");
    await shot(page, "05-inpaint.png");

    // 5. The model picker: switch to sd2-tiny-v, generate, see its name in the parameters.
    const sd2 = await page.$$eval("#model option", (o) => o.map((x) => x.value).find((v) => /sd2-tiny-v\.safetensors$/.test(v)));
    if (check(!!sd2, "the picker lists the other models of --models-dir: " + sd2)) {
      await page.selectOption("#model", sd2);
      await page.waitForFunction(() => document.getElementById("status-text").textContent === "ready" &&
                                        !document.getElementById("model").disabled, null, { timeout: 30000 });
      const opts = await page.evaluate(async () => (await (await fetch("/sdapi/v1/options")).json()).sd_model_checkpoint);
      check(opts === sd2, "the server reports the picked model as sd_model_checkpoint: " + opts);
      await page.click('#mode-tabs button[data-mode="txt2img"]');
      await setField(page, "steps", 2);
      const n = await page.$$eval("#gallery .thumb", (t) => t.length);
      await page.click("#generate");
      await page.waitForFunction((k) => document.querySelectorAll("#gallery .thumb").length > k &&
                                        !document.getElementById("generate").disabled, n, { timeout: 30000 });
      const info = await page.$eval("#infotext", (e) => e.textContent);
      check(/Model: sd2-tiny-v/.test(info), "the new image names the picked model: " + (/Model: [^,\n]*/.exec(info) || [""])[0]);
      await shot(page, "06-model-switched.png");
      // The arrow keys walk the gallery: the next (older) image is sd1-tiny's inpaint result.
      await page.evaluate(() => document.activeElement.blur());
      await page.keyboard.press("ArrowRight");
      const older = await page.$eval("#infotext", (e) => e.textContent);
      const sel = await page.$$eval("#gallery .thumb", (t) => t.findIndex((x) => x.classList.contains("selected")));
      check(sel === 1 && /Model: sd1-tiny/.test(older), "ArrowRight selects the next image in the gallery");
    }

    // 6. A narrow window (a phone): one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#mode-tabs button[data-mode="txt2img"]');
    await page.evaluate(() => window.scrollTo(0, 0));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow} px)`);
    await shot(page, "07-narrow.png");
    await page.screenshot({ path: path.join(OUT, "08-narrow-full-page.png"), fullPage: true });

    check(errors.length === 0, "no script errors" + (errors.length ? ": " + errors.join(" | ") : ""));
    check(outside.length === 0, "nothing loaded from outside the server" + (outside.length ? ": " + outside.join(", ") : ""));
    await context.close();
  } finally {
    await browser.close();
    if (server.proc) {
      server.proc.kill("SIGTERM");
      const code = await new Promise((resolve) => {
        const t = setTimeout(() => { server.proc.kill("SIGKILL"); resolve("killed"); }, 10000);
        server.proc.on("exit", (c) => { clearTimeout(t); resolve(c); });
        if (server.proc.exitCode !== null) { clearTimeout(t); resolve(server.proc.exitCode); }
      });
      check(code === 0, "sdpp serve exits 0 on SIGTERM (" + code + ")");
      if (failed) console.log("---- sdpp serve output ----\n" + server.logs().slice(-4000));
    }
  }
}

run().then(() => {
  console.log(`browser test: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.log("FAIL " + (e && e.stack || e));
  console.log(`browser test: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
