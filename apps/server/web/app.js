// The sdpp web page's script (index.html): api, settings, mode tabs, source image and mask,
// models/samplers/schedulers, generation with progress, results and gallery, start-up.
"use strict";
const $ = (id) => document.getElementById(id);
const API = "/sdapi/v1";

// ---------------------------------------------------------------- api
// fetch JSON; a non-2xx answer throws an Error carrying the server's `detail` (A1111/FastAPI shape).
async function api(path, body, method) {
  const opts = { method: method || (body === undefined ? "GET" : "POST"), headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(API + path, opts); }
  catch (e) { throw new Error("The server cannot be reached (" + e.message + ")"); }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    let detail = data && data.detail !== undefined ? data.detail : (text || res.statusText);
    if (Array.isArray(detail)) detail = detail.map((d) => (d.loc ? d.loc.join(".") + ": " : "") + (d.msg || JSON.stringify(d))).join("; ");
    else if (typeof detail !== "string") detail = JSON.stringify(detail);
    const err = new Error(detail || String(res.status));
    err.status = res.status;
    throw err;
  }
  return data;
}

let toastTimer = 0;
function toast(message, kind) {
  $("toast-text").textContent = message;
  $("toast").className = "toast" + (kind ? " " + kind : "");
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $("toast").hidden = true; }, kind === "info" ? 3000 : 9000);
}
$("toast-close").onclick = () => { $("toast").hidden = true; };

function setStatus(kind, text) {
  $("status-dot").className = "dot " + kind;
  $("status-text").textContent = text;
}

// ---------------------------------------------------------------- sliders and settings
function syncFill(range) {
  const min = +range.min, max = +range.max;
  range.style.setProperty("--fill", ((+range.value - min) / (max - min || 1)) * 100 + "%");
}
document.querySelectorAll("input[type=range][data-sync]").forEach((range) => {
  const box = $(range.dataset.sync);
  range.addEventListener("input", () => { box.value = range.value; syncFill(range); box.dispatchEvent(new Event("change")); });
  box.addEventListener("input", () => { range.value = box.value; syncFill(range); });
  box.addEventListener("change", () => { range.value = box.value; syncFill(range); });
  syncFill(range);
});
function setValue(id, value) {
  const el = $(id);
  el.value = value;
  el.dispatchEvent(new Event("input"));
  el.dispatchEvent(new Event("change"));
}

// Kept in localStorage so a reload keeps the prompt and the parameters.
const SAVED = ["prompt", "negative", "width", "height", "steps", "cfg", "seed", "batch-size", "batch-count",
  "denoise", "resize-mode", "mask-blur", "inpaint-fill", "inpaint-area", "padding", "brush"];
const DEFAULTS = {};
SAVED.forEach((id) => { DEFAULTS[id] = $(id).value; });
const STORE_KEY = "sdpp.web.v1";
function loadSettings() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}"); } catch (e) { saved = {}; }
  SAVED.forEach((id) => { if (saved[id] !== undefined) setValue(id, saved[id]); });
  return saved;
}
function saveSettings() {
  const s = { mode: state.mode, sampler: $("sampler").value, scheduler: $("scheduler").value };
  SAVED.forEach((id) => { s[id] = $(id).value; });
  try { localStorage.setItem(STORE_KEY, JSON.stringify(s)); } catch (e) { /* private mode */ }
}
SAVED.forEach((id) => $(id).addEventListener("change", saveSettings));
["sampler", "scheduler"].forEach((id) => $(id).addEventListener("change", saveSettings));
$("prompt").addEventListener("input", saveSettings);
$("negative").addEventListener("input", saveSettings);

$("reset-params").onclick = () => {
  ["width", "height", "steps", "cfg", "seed", "batch-size", "batch-count", "denoise", "mask-blur", "padding"]
    .forEach((id) => setValue(id, DEFAULTS[id]));
  if (state.defaultSampler) setValue("sampler", state.defaultSampler);
  setValue("scheduler", [...$("scheduler").options].some((o) => o.value === "automatic") ? "automatic" : $("scheduler").options[0]?.value || "");
  saveSettings();
};
$("swap-size").onclick = () => {
  const w = $("width").value;
  setValue("width", $("height").value);
  setValue("height", w);
};
$("random-seed").onclick = () => setValue("seed", -1);
$("last-seed").onclick = () => {
  const r = state.results[state.selected];
  if (r && r.seed !== undefined) setValue("seed", r.seed);
};

// ---------------------------------------------------------------- mode tabs
const state = {
  mode: "txt2img", busy: false, results: [], selected: -1, pollTimer: 0, init: null,
  defaultSampler: "", models: [], loadingModel: false, interrupted: false,
};
function setMode(mode) {
  state.mode = mode;
  document.querySelectorAll("#mode-tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
  const needsImage = mode !== "txt2img";
  $("source-card").hidden = !needsImage;
  $("inpaint-options").hidden = mode !== "inpaint";
  $("source-title").textContent = mode === "inpaint" ? "Image and mask" : "Source image";
  updateSourceView();
  saveSettings();
}
document.querySelectorAll("#mode-tabs button").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
$("inpaint-area").addEventListener("change", () => { $("padding-row").hidden = $("inpaint-area").value !== "1"; });

// ---------------------------------------------------------------- source image and mask
const initCanvas = $("init-canvas"), maskCanvas = $("mask-canvas");
const MASK_COLOR = "#ff3d6e";

function updateSourceView() {
  const has = !!state.init;
  $("dropzone").hidden = has;
  $("canvas-wrap").hidden = !has;
  $("replace-image").hidden = !has;
  const inpaint = state.mode === "inpaint";
  $("mask-tools").hidden = !(has && inpaint);
  maskCanvas.hidden = !inpaint;
  $("canvas-wrap").classList.toggle("painting", has && inpaint);
  fitSource();
}

// The source canvas fills the card's width, up to 60% of the window's height, keeping its aspect.
function fitSource() {
  if (!state.init) return;
  const avail = $("canvas-wrap").clientWidth - 2;
  if (avail <= 0) return;  // hidden (text to image)
  const aspect = initCanvas.width / initCanvas.height;
  const w = Math.max(16, Math.floor(Math.min(avail, window.innerHeight * 0.6 * aspect)));
  initCanvas.style.width = w + "px";
  initCanvas.style.height = Math.round(w / aspect) + "px";
}
window.addEventListener("resize", fitSource);

// Shows an image (a URL or data URL) as the source; sets the size fields to it (multiples of 8).
function setSourceImage(url, keepSize) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      state.init = img;
      initCanvas.width = maskCanvas.width = img.naturalWidth;
      initCanvas.height = maskCanvas.height = img.naturalHeight;
      initCanvas.getContext("2d").drawImage(img, 0, 0);
      maskCanvas.getContext("2d").clearRect(0, 0, maskCanvas.width, maskCanvas.height);
      if (!keepSize) {
        const snap = (v) => Math.max(64, Math.min(4096, Math.round(v / 8) * 8));
        setValue("width", snap(img.naturalWidth));
        setValue("height", snap(img.naturalHeight));
      }
      // A brush about a tenth of the image's shorter side.
      setValue("brush", Math.max(2, Math.round(Math.min(img.naturalWidth, img.naturalHeight) / 10)));
      initCanvas.classList.toggle("pixelated", img.naturalWidth < 256 && img.naturalHeight < 256);
      updateSourceView();
      fitSource();
      resolve();
    };
    img.onerror = () => reject(new Error("That file is not an image the browser can read"));
    img.src = url;
  });
}
function readFile(file) {
  if (!file || !file.type.startsWith("image/")) { toast("Choose an image file (PNG, JPEG or WebP)"); return; }
  const reader = new FileReader();
  reader.onload = () => setSourceImage(reader.result).catch((e) => toast(e.message));
  reader.readAsDataURL(file);
}
$("init-file").addEventListener("change", (e) => { readFile(e.target.files[0]); e.target.value = ""; });
$("replace-image").onclick = () => $("init-file").click();
const dz = $("dropzone");
["dragenter", "dragover"].forEach((t) => dz.addEventListener(t, (e) => { e.preventDefault(); dz.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => dz.addEventListener(t, () => dz.classList.remove("over")));
dz.addEventListener("drop", (e) => { e.preventDefault(); readFile(e.dataTransfer.files[0]); });
$("canvas-wrap").addEventListener("dragover", (e) => e.preventDefault());
$("canvas-wrap").addEventListener("drop", (e) => { e.preventDefault(); readFile(e.dataTransfer.files[0]); });
document.addEventListener("paste", (e) => {
  if (state.mode === "txt2img") return;
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
  if (item) { e.preventDefault(); readFile(item.getAsFile()); }
});

// Mask painting: strokes go into maskCanvas (source-image pixels) in one colour; erasing clears.
const mctx = maskCanvas.getContext("2d");
let painting = null;
function canvasPoint(e) {
  const r = maskCanvas.getBoundingClientRect();
  return { x: (e.clientX - r.left) * (maskCanvas.width / r.width), y: (e.clientY - r.top) * (maskCanvas.height / r.height),
           scale: maskCanvas.width / r.width };
}
function brushCursor(e) {
  const wrap = $("canvas-inner").getBoundingClientRect(), c = $("brush-cursor");
  const p = canvasPoint(e), d = +$("brush").value / p.scale;
  c.style.left = e.clientX - wrap.left + "px";
  c.style.top = e.clientY - wrap.top + "px";
  c.style.width = c.style.height = d + "px";
}
function strokeTo(p) {
  mctx.globalCompositeOperation = painting.erase ? "destination-out" : "source-over";
  mctx.strokeStyle = mctx.fillStyle = MASK_COLOR;
  mctx.lineWidth = +$("brush").value;
  mctx.lineCap = mctx.lineJoin = "round";
  mctx.beginPath();
  mctx.moveTo(painting.x, painting.y);
  mctx.lineTo(p.x + 0.01, p.y);
  mctx.stroke();
  painting.x = p.x; painting.y = p.y;
}
maskCanvas.addEventListener("pointerdown", (e) => {
  if (state.mode !== "inpaint") return;
  e.preventDefault();
  maskCanvas.setPointerCapture(e.pointerId);
  const p = canvasPoint(e);
  painting = { x: p.x, y: p.y, erase: e.button === 2 || $("erase").getAttribute("aria-pressed") === "true" };
  strokeTo(p);
});
maskCanvas.addEventListener("pointermove", (e) => { brushCursor(e); if (painting) strokeTo(canvasPoint(e)); });
["pointerup", "pointercancel"].forEach((t) => maskCanvas.addEventListener(t, () => { painting = null; }));
maskCanvas.addEventListener("contextmenu", (e) => e.preventDefault());
$("erase").onclick = () => $("erase").setAttribute("aria-pressed", String($("erase").getAttribute("aria-pressed") !== "true"));
$("clear-mask").onclick = () => mctx.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
$("invert-mask").onclick = () => {
  const d = mctx.getImageData(0, 0, maskCanvas.width, maskCanvas.height), px = d.data;
  for (let i = 0; i < px.length; i += 4) {
    const a = 255 - px[i + 3];
    px[i] = 0xff; px[i + 1] = 0x3d; px[i + 2] = 0x6e; px[i + 3] = a;
  }
  mctx.putImageData(d, 0, 0);
};
function maskHasPaint() {
  const px = mctx.getImageData(0, 0, maskCanvas.width, maskCanvas.height).data;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 127) return true;
  return false;
}
// The mask A1111 expects: white where to repaint, black elsewhere, the size of the source image.
function maskPngBase64() {
  const w = maskCanvas.width, h = maskCanvas.height, out = document.createElement("canvas");
  out.width = w; out.height = h;
  const octx = out.getContext("2d");
  const src = mctx.getImageData(0, 0, w, h).data, dst = octx.createImageData(w, h);
  for (let i = 0; i < src.length; i += 4) {
    const v = src[i + 3] > 127 ? 255 : 0;
    dst.data[i] = dst.data[i + 1] = dst.data[i + 2] = v; dst.data[i + 3] = 255;
  }
  octx.putImageData(dst, 0, 0);
  return out.toDataURL("image/png").split(",")[1];
}
function initPngBase64() { return initCanvas.toDataURL("image/png").split(",")[1]; }

// ---------------------------------------------------------------- models, samplers, schedulers
function fillSelect(select, items, keep) {
  const old = keep !== undefined ? keep : select.value;
  select.replaceChildren(...items.map(([value, label]) => new Option(label, value)));
  if (items.some(([v]) => v === old)) select.value = old;
}
async function loadModels(current) {
  const models = await api("/sd-models");
  state.models = models || [];
  if (current === undefined) current = (await api("/options")).sd_model_checkpoint;
  const items = state.models.map((m) => [m.title, m.model_name || m.title]);
  if (!items.length) items.push(["", "no models found"]);
  if (current && !items.some(([v]) => v === current)) items.unshift([current, current]);
  fillSelect($("model"), items, current || "");
}
$("model").addEventListener("change", async () => {
  const title = $("model").value;
  state.loadingModel = true;
  updateButtons();
  setStatus("busy", "loading model…");
  try {
    await api("/options", { sd_model_checkpoint: title });
    toast("Model loaded: " + title, "info");
  } catch (e) {
    toast("Could not load the model: " + e.message);
    await loadModels().catch(() => {});
  } finally {
    state.loadingModel = false;
    updateButtons();
    if (!state.busy) setStatus("ok", "ready");
  }
});
$("refresh-models").onclick = async () => {
  try {
    await api("/refresh-checkpoints", {});
    await loadModels();
    toast(state.models.length + " model" + (state.models.length === 1 ? "" : "s") + " found", "info");
  } catch (e) { toast(e.message); }
};
async function loadSamplers(savedSampler, savedScheduler) {
  const samplers = await api("/samplers");
  const names = (samplers || []).map((s) => [s.name, s.name]);
  state.defaultSampler = names.some(([n]) => n === "Euler a") ? "Euler a" : (names[0] ? names[0][0] : "");
  fillSelect($("sampler"), names, savedSampler || state.defaultSampler);
  let schedulers = [];
  try { schedulers = (await api("/schedulers")) || []; } catch (e) { schedulers = []; }
  const items = schedulers.map((s) => [s.name, s.label || s.name]);
  if (!items.some(([n]) => n === "automatic")) items.unshift(["automatic", "Automatic"]);
  fillSelect($("scheduler"), items, savedScheduler || "automatic");
}

// ---------------------------------------------------------------- generation and progress
function updateButtons() {
  $("generate").disabled = state.busy || state.loadingModel;
  $("interrupt").disabled = !state.busy;
  $("skip").disabled = !state.busy || (+$("batch-size").value * +$("batch-count").value) < 2;
  $("model").disabled = state.busy || state.loadingModel;
  $("refresh-models").disabled = state.busy || state.loadingModel;
}

function request() {
  const num = (id) => Number($(id).value);
  const body = {
    prompt: $("prompt").value,
    negative_prompt: $("negative").value,
    width: num("width"), height: num("height"),
    steps: num("steps"), cfg_scale: num("cfg"),
    sampler_name: $("sampler").value, scheduler: $("scheduler").value,
    seed: Math.trunc(num("seed")),
    batch_size: num("batch-size"), n_iter: num("batch-count"),
    send_images: true, save_images: false,
  };
  if (state.mode !== "txt2img") {
    if (!state.init) throw new Error("Choose a source image first (drop one on the Source image box)");
    body.init_images = [initPngBase64()];
    body.denoising_strength = num("denoise");
    body.resize_mode = num("resize-mode");
  }
  if (state.mode === "inpaint") {
    if (!maskHasPaint()) throw new Error("Paint the area to regenerate on the image first");
    body.mask = maskPngBase64();
    body.mask_blur = num("mask-blur");
    body.inpainting_fill = num("inpaint-fill");
    body.inpaint_full_res = $("inpaint-area").value === "1";
    body.inpaint_full_res_padding = num("padding");
    body.inpainting_mask_invert = 0;
  }
  return body;
}

function showProgress(p) {
  const st = p.state || {};
  const frac = Math.max(0, Math.min(1, Number(p.progress) || 0));
  $("progress-bar").classList.toggle("indeterminate", frac === 0 && !st.sampling_steps);
  $("progress-fill").style.width = (frac * 100).toFixed(1) + "%";
  const parts = [];
  if (st.sampling_steps) parts.push("Step <strong>" + st.sampling_step + "</strong> / " + st.sampling_steps);
  if (st.job_count > 1) parts.push("image " + (Math.min(st.job_no + 1, st.job_count)) + " / " + st.job_count);
  if (st.interrupted) parts.push("interrupting…");
  else if (st.skipped) parts.push("skipping…");
  $("progress-text").innerHTML = parts.length ? parts.join(" · ") : (frac > 0 ? "Decoding…" : "Waiting…");
  $("progress-eta").textContent = p.eta_relative > 0 && frac > 0 ? "ETA " + formatSeconds(p.eta_relative) : Math.round(frac * 100) + "%";
  document.title = Math.round(frac * 100) + "% · sdpp";  // visible from another tab
  if (p.current_image) {
    const q = state.running || {};
    showStage("data:image/png;base64," + p.current_image, "preview", q.width, q.height);
    $("preview").classList.remove("zoomable");
  }
}
function formatSeconds(s) {
  s = Math.max(0, s);
  return s < 60 ? s.toFixed(s < 10 ? 1 : 0) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

async function poll() {
  if (!state.busy) return;
  try {
    const p = await api("/progress?skip_current_image=false");
    if (state.busy) showProgress(p);
  } catch (e) { /* the generation request reports errors */ }
  if (state.busy) state.pollTimer = setTimeout(poll, 350);
}

async function generate() {
  if (state.busy || state.loadingModel) return;
  let body;
  try { body = request(); } catch (e) { toast(e.message); return; }
  state.busy = true;
  state.interrupted = false;
  updateButtons();
  setStatus("busy", "generating");
  state.running = body;
  $("progress").hidden = false;
  $("progress-bar").classList.remove("stopped");
  const fill = $("progress-fill");
  fill.style.transition = "none";  // back to 0 at once, not animated down from the last run's 100%
  fill.style.width = "0";
  void fill.offsetWidth;
  fill.style.transition = "";
  $("progress-text").textContent = "Queued…";
  $("progress-eta").textContent = "";
  $("progress-bar").classList.add("indeterminate");
  const started = performance.now(), mode = state.mode;  // the tabs may change while it runs
  state.pollTimer = setTimeout(poll, 150);
  try {
    const res = await api(mode === "txt2img" ? "/txt2img" : "/img2img", body);
    const added = addResults(res, body, mode);
    const secs = (performance.now() - started) / 1000;
    $("progress-bar").classList.remove("indeterminate");
    $("progress-bar").classList.toggle("stopped", state.interrupted);
    if (!state.interrupted) $("progress-fill").style.width = "100%";  // an interrupted bar stays where it stopped
    const count = "<strong>" + added + "</strong> image" + (added === 1 ? "" : "s");
    $("progress-text").innerHTML = state.interrupted
      ? (added ? "Interrupted: " + count + " finished and kept" : "Interrupted before an image was finished")
      : "Done: " + count;
    $("progress-eta").textContent = formatSeconds(secs);
    if (!added) showSelected();
  } catch (e) {
    $("progress").hidden = true;
    toast(e.message);
    showSelected();
  } finally {
    state.busy = false;
    clearTimeout(state.pollTimer);
    document.title = "sdpp";
    updateButtons();
    setStatus("ok", "ready");
  }
}
$("generate").onclick = generate;
$("interrupt").onclick = async () => {
  state.interrupted = true;
  $("progress-text").textContent = "Interrupting…";
  try { await api("/interrupt", {}); } catch (e) { toast(e.message); }
};
$("skip").onclick = async () => { try { await api("/skip", {}); } catch (e) { toast(e.message); } };
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
  else if (e.key === "Escape" && state.busy) { $("interrupt").click(); }
  else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !e.target.closest("input, textarea, select")
           && state.results.length && !state.busy) {
    // Left/right walk the gallery (newest is leftmost).
    const i = Math.max(0, Math.min(state.results.length - 1, state.selected + (e.key === "ArrowRight" ? 1 : -1)));
    if (i !== state.selected) { e.preventDefault(); select(i); }
  }
});
["batch-size", "batch-count"].forEach((id) => $(id).addEventListener("change", updateButtons));

// ---------------------------------------------------------------- results and gallery
function parseInfo(info) {
  if (!info) return {};
  if (typeof info === "object") return info;
  try { return JSON.parse(info); } catch (e) { return { infotexts: [String(info)] }; }
}
// A1111 puts a grid first when it makes one: images beyond the infotexts come first.
function addResults(res, body, mode) {
  const images = (res && res.images) || [];
  const info = parseInfo(res && res.info);
  const texts = info.infotexts || [];
  const seeds = info.all_seeds || [];
  const extra = Math.max(0, images.length - texts.length);
  const added = [];
  images.forEach((b64, i) => {
    const k = i - extra;
    if (k < 0) return;  // a grid: the single images carry the parameters
    const item = {
      b64, mode, request: body,
      infotext: texts[k] || "",
      seed: seeds[k] !== undefined ? seeds[k] : (info.seed !== undefined ? info.seed + k : undefined),
      id: ++addResults.counter,
    };
    added.push(item);
  });
  // Newest batch first, its images in their batch order.
  state.results = added.concat(state.results);
  renderGallery();
  if (added.length) select(0);
  return images.length - extra;
}
addResults.counter = 0;

function renderGallery() {
  const g = $("gallery");
  $("gallery-count").textContent = state.results.length ? "(" + state.results.length + ")" : "";
  $("clear-gallery").disabled = !state.results.length;
  if (!state.results.length) {
    g.innerHTML = '<span class="gallery-empty">Results of this session collect here.</span>';
    return;
  }
  g.replaceChildren(...state.results.map((r, i) => {
    const b = document.createElement("button");
    b.className = "thumb" + (i === state.selected ? " selected" : "");
    b.title = r.infotext.split("\n")[0].slice(0, 200);
    const img = new Image();
    img.src = "data:image/png;base64," + r.b64;
    img.alt = "result " + r.id;
    b.append(img);
    if (r.mode !== "txt2img") {
      const t = document.createElement("span");
      t.className = "tag"; t.textContent = r.mode === "inpaint" ? "inpaint" : "img2img";
      b.append(t);
    }
    b.onclick = () => select(i);
    return b;
  }));
}

// Shows an image on the stage at the size the finished image has (w x h): a live preview (latent
// size) is scaled up smoothly to it; small finished images (the tiny test models) are enlarged with
// visible pixels instead of blur.
function showStage(src, badge, w, h) {
  const img = $("preview");
  $("empty").hidden = true;
  img.hidden = false;
  const place = (fw, fh, isPreview) => {
    const small = fw < 256 && fh < 256;
    img.classList.toggle("pixelated", small && !isPreview);
    state.stageSize = { w: small ? 384 * fw / Math.max(fw, fh) : fw, aspect: fw / fh };
    fitStage();
  };
  if (w && h) place(w, h, true);
  img.onload = () => { if (!(w && h)) place(img.naturalWidth, img.naturalHeight, false); };
  if (img.getAttribute("src") !== src) img.src = src;
  $("stage-badge").hidden = !badge;
  $("stage-badge").textContent = badge || "";
}

// The stage image's width: its wanted width, within the stage's box, keeping its aspect.
const narrow = window.matchMedia("(max-width: 900px)");
function fitStage() {
  const st = $("stage"), z = state.stageSize;
  if (!z) return;
  // In one column the stage grows with its image, up to 70% of the window's height.
  const h = narrow.matches ? window.innerHeight * 0.7 : st.clientHeight;
  const w = Math.min(z.w, st.clientWidth - 28, (h - 28) * z.aspect);
  $("preview").style.width = Math.max(16, Math.floor(w)) + "px";
}
// Also when the parameters panel below it appears or the window changes.
new ResizeObserver(() => fitStage()).observe($("stage"));

// Infotext: prompt, "Negative prompt: ...", then "Key: value, ..." (A1111's format).
function renderInfotext(text) {
  const pre = $("infotext");
  pre.replaceChildren();
  text.split("\n").forEach((line, n) => {
    if (n) pre.append("\n");
    const m = /^(Negative prompt:|Steps:)(.*)$/s.exec(line);
    if (m) {
      const k = document.createElement("span"); k.className = "k"; k.textContent = m[1];
      pre.append(k, m[2]);
    } else pre.append(line);
  });
}

function select(i) {
  state.selected = i;
  document.querySelectorAll("#gallery .thumb").forEach((t, n) => t.classList.toggle("selected", n === i));
  showSelected();
}
function showSelected() {
  const r = state.results[state.selected];
  if (!r) {
    $("details").hidden = true;
    $("preview").hidden = true;
    $("stage-badge").hidden = true;
    $("empty").hidden = false;
    return;
  }
  showStage("data:image/png;base64," + r.b64, "");
  $("preview").classList.add("zoomable");
  $("details").hidden = false;
  renderInfotext(r.infotext || "(the server sent no parameters for this image)");
  const a = $("download");
  if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
  const bytes = Uint8Array.from(atob(r.b64), (c) => c.charCodeAt(0));
  a.dataset.url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
  a.href = a.dataset.url;
  a.download = "sdpp-" + String(r.id).padStart(5, "0") + (r.seed !== undefined ? "-" + r.seed : "") + ".png";
}
$("copy-params").onclick = async () => {
  const r = state.results[state.selected];
  if (!r) return;
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(r.infotext);
    else {  // plain http from another machine: the clipboard API is off, the old way still works
      const t = document.createElement("textarea");
      t.value = r.infotext; t.style.position = "fixed"; t.style.opacity = "0";
      document.body.append(t); t.select();
      const ok = document.execCommand("copy");
      t.remove();
      if (!ok) throw new Error("copy refused");
    }
    toast("Parameters copied", "info");
  } catch (e) { toast("The browser refused the clipboard: select the text and copy it"); }
};
$("reuse-seed").onclick = () => $("last-seed").click();
$("reuse-all").onclick = () => {
  const r = state.results[state.selected];
  if (!r) return;
  const q = r.request;
  setValue("prompt", q.prompt); setValue("negative", q.negative_prompt);
  setValue("width", q.width); setValue("height", q.height);
  setValue("steps", q.steps); setValue("cfg", q.cfg_scale);
  if (q.sampler_name) setValue("sampler", q.sampler_name);
  if (q.scheduler) setValue("scheduler", q.scheduler);
  setValue("seed", r.seed !== undefined ? r.seed : q.seed);
  if (q.denoising_strength !== undefined) setValue("denoise", q.denoising_strength);
  saveSettings();
};
async function sendTo(mode) {
  const r = state.results[state.selected];
  if (!r) return;
  await setSourceImage("data:image/png;base64," + r.b64, false);
  setMode(mode);
  window.scrollTo({ top: 0, behavior: "smooth" });
}
$("to-img2img").onclick = () => sendTo("img2img");
// A click on a finished image opens it at full size in a new tab.
$("preview").addEventListener("click", () => {
  if (state.busy || !state.results[state.selected]) return;
  window.open($("download").href, "_blank", "noopener");
});
$("to-inpaint").onclick = () => sendTo("inpaint");
$("clear-gallery").onclick = () => {
  state.results = [];
  state.selected = -1;
  renderGallery();
  showSelected();
};

// ---------------------------------------------------------------- start
async function start() {
  const saved = loadSettings();
  setMode(saved.mode === "img2img" || saved.mode === "inpaint" ? saved.mode : "txt2img");
  $("padding-row").hidden = $("inpaint-area").value !== "1";
  updateButtons();
  try {
    await Promise.all([loadModels(), loadSamplers(saved.sampler, saved.scheduler)]);
    setStatus("ok", "ready");
  } catch (e) {
    setStatus("bad", "offline");
    toast("Could not talk to the server: " + e.message);
  }
  // A generation started elsewhere (another tab, an API client) shows as a busy server.
  try {
    const p = await api("/progress?skip_current_image=true");
    if (p && p.state && p.state.job_count > 0 && !state.busy) setStatus("busy", "busy (another client)");
  } catch (e) { /* not fatal */ }
}
start();
