// The labelspace page: pick or drop an image, type labels or pick a label set, POST /classify, draw the ranked
// labels as bars (a WordNet answer with its synset id, hypernym path and gloss; the hedged answer above them).
// All text from the user or the server is set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let chosen = null;      // the File to upload
let vocabulary = [];    // suggestion names (PASCAL VOC, Fashion-MNIST, ImageNet)

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function choose(file) {
  if (!file) return;
  chosen = file;
  $("preview").src = URL.createObjectURL(file);
  $("preview").hidden = false;
  $("drop-hint").hidden = true;
  $("file-name").textContent = `${file.name} (${Math.round(file.size / 1024)} KiB)`;
  showError("");
}

function currentLabels() {
  return $("labels").value.split(",").map((s) => s.trim()).filter(Boolean);
}

function chooseSet() {
  const named = Boolean($("label-set").value);
  $("labels").disabled = named;
  $("hedge").disabled = !named;
}

function synsetLines({ wnid, path, gloss }) {
  const synset = document.createElement("div");
  synset.className = "synset";
  synset.title = gloss;
  const id = document.createElement("code");
  id.textContent = wnid;
  synset.append(id, ` \u00b7 ${path}`);
  const note = document.createElement("div");
  note.className = "gloss";
  note.textContent = gloss;
  return [synset, note];
}

function suggest() {
  const parts = $("labels").value.split(",");
  const fragment = parts[parts.length - 1].trim().toLowerCase();
  const taken = new Set(currentLabels().map((s) => s.toLowerCase()));
  const box = $("suggestions");
  box.replaceChildren();
  if (!fragment) return;
  for (const name of vocabulary.filter((n) => n.toLowerCase().startsWith(fragment) && !taken.has(n.toLowerCase())).slice(0, 8)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.addEventListener("click", () => {
      parts[parts.length - 1] = (parts.length > 1 ? " " : "") + name;
      $("labels").value = parts.join(",") + ", ";
      $("labels").focus();
      suggest();
    });
    box.append(button);
  }
}

function render(result) {
  const rows = result.labels.map((answer) => {
    const { label, score } = answer;
    const row = document.createElement("li");
    row.className = "row";
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    if (answer.gloss) name.title = answer.gloss;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${Math.max(1, 100 * score)}%`; // its share of the candidates
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = score.toFixed(3);
    value.title = result.score_name;
    row.append(name, bar, value, ...(answer.wnid ? synsetLines(answer) : []));
    return row;
  });
  $("results").replaceChildren(...rows);
  const set = result.label_set;
  const ranked = set ? `the best ${result.labels.length} of ${set.size.toLocaleString("en")} synsets of ${set.spec}` +
    (set.excluded ? ` (${set.excluded.toLocaleString("en")} without a word in the text model left out)` : "")
    : `${result.labels.length} labels`;
  $("status").textContent = `${ranked} ranked by ${result.model} in ${result.seconds.toFixed(2)} s; ` +
    `each number: ${result.score_name}`;
  const hedge = result.hedge;
  $("hedged").hidden = !hedge;
  if (hedge) {
    $("hedged").textContent = `Hedged answer: ${hedge.label} (${hedge.wnid}), subtree ${result.score_name} ` +
      `${hedge.probability.toFixed(3)} \u00b7 ${hedge.path}`;
    $("hedged").title = hedge.gloss;
  }
  $("output").hidden = false;
}

async function classify(event) {
  event.preventDefault();
  showError("");
  if (!chosen) return showError("Choose an image first: drop one on the box or click it.");
  const set = $("label-set").value;
  if (!set && !currentLabels().length) return showError("Type at least one label, e.g. cat, dog, car.");
  const form = new FormData();
  form.append("image", chosen, chosen.name);
  form.append("labels", set || $("labels").value);
  if (set) form.append("hedge", $("hedge").value);
  form.append("templates", $("templates").value);
  form.append("model", $("model").value);
  $("go").disabled = true;
  try {
    const response = await fetch("/classify", { method: "POST", body: form });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      $("output").hidden = true;
      return showError(body && body.error ? body.error : `The server answered HTTP ${response.status}.`);
    }
    render(body);
  } catch (error) {
    showError(`Could not reach the server: ${error.message}`);
  } finally {
    $("go").disabled = false;
  }
}

async function init() {
  const drop = $("drop");
  $("file").addEventListener("change", () => choose($("file").files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    choose(e.dataTransfer.files[0]);
  });
  $("labels").addEventListener("input", suggest);
  $("label-set").addEventListener("change", chooseSet);
  $("form").addEventListener("submit", classify);
  try {
    const [models, sets, limits, labelSets] = await Promise.all(
      [getJSON("/models"), getJSON("/suggestions"), getJSON("/limits"), getJSON("/label-sets")]);
    for (const { spec } of models.models) $("model").append(new Option(spec, spec));
    for (const { spec, size } of labelSets) {
      $("label-set").append(new Option(`${spec} (${size.toLocaleString("en")} synsets)`, spec));
    }
    for (const [name, labels] of Object.entries(sets)) {
      vocabulary.push(...labels);
      if (labels.length > limits.max_labels) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `${name} (${labels.length})`;
      button.addEventListener("click", () => {
        $("label-set").value = "";
        chooseSet();
        $("labels").value = labels.join(", ");
        suggest();
      });
      $("presets").append(button);
    }
    vocabulary = [...new Set(vocabulary)];
    $("limits").textContent = `Images up to ${Math.round(limits.max_upload_bytes / 2 ** 20)} MiB and ` +
      `${Math.round(limits.max_pixels / 1e6)} megapixels; up to ${limits.max_labels} labels.`;
  } catch (error) {
    showError(`Could not load the server settings: ${error.message}`);
  }
}

init();
