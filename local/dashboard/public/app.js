// The dashboard: the series of one (view, key, measure) with its batch and speed parts, the
// pipeline at a glance, and the Kappa versions. Data comes from the API's own routes only.
import { api, ApiRefusal, onApiState } from './api.js';
import { PartsChart } from './chart.js';
import { Poller } from './poller.js';
import { renderDeadLetters, renderKappa, renderPipeline } from './panels.js';

const $ = (id) => document.getElementById(id);

const state = {
  architecture: 'lambda',
  views: [],
  view: null,
  measure: null,
  /** The chosen key: {field: value}, or null. */
  key: null,
  /** Whether GET /views/{view}/keys exists here (the local runtime has it; the cloud API does not). */
  keyListing: true,
};

onApiState((apiState, detail) => {
  document.body.dataset.apiState = apiState;
  $('api-state').textContent =
    apiState === 'live'
      ? `live · updated ${new Date().toLocaleTimeString()}`
      : `API unreachable: ${detail}. Retrying…`;
});

/** A panel's own failure is shown in the panel; an unreachable API is shown once, in the header. */
function panelError(element) {
  return (error) => {
    if (error instanceof ApiRefusal || document.body.dataset.apiState !== 'down')
      element.textContent = error.message;
  };
}

// ---- the series ------------------------------------------------------------------------------

const chart = new PartsChart($('chart'));

function currentView() {
  return state.views.find((v) => v.name === state.view);
}

function fillSelect(select, values, chosen) {
  select.replaceChildren(
    ...values.map((value) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = value;
      option.selected = value === chosen;
      return option;
    }),
  );
}

function chooseView(name) {
  state.view = name;
  const view = currentView();
  const measures = Object.keys(view.measures);
  state.measure = measures[0];
  fillSelect($('measure-select'), measures, state.measure);
  state.key = null;
  $('key-search').value = '';
  renderKeyForm(view);
  keysPoller.poke();
  seriesPoller.poke();
}

function keyText(key) {
  return Object.values(key).join(' · ');
}

function renderKeyForm(view) {
  $('key-fields').replaceChildren(
    ...view.key.map((field) => {
      const label = document.createElement('label');
      label.textContent = `${field} `;
      const input = document.createElement('input');
      input.name = field;
      label.append(input);
      return label;
    }),
  );
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  state.key = Object.fromEntries(currentView().key.map((field) => [field, String(data.get(field) ?? '')]));
  seriesPoller.poke();
});

async function refreshKeys() {
  if (!state.view || !state.keyListing) return;
  const q = $('key-search').value;
  // The first listing reads the whole archive (later ones only its new objects): say so meanwhile.
  if ($('key-list').childElementCount === 0)
    $('key-count').textContent = 'reading the keys from the archive…';
  let listing;
  try {
    listing = await api(`views/${encodeURIComponent(state.view)}/keys?q=${encodeURIComponent(q)}&limit=200`);
  } catch (error) {
    const noRoute = error instanceof ApiRefusal && (error.status === 403 || error.status === 404);
    if (noRoute && !error.body?.error?.startsWith('unknown view')) {
      // No key listing behind this API (API Gateway answers 403 or 404 for a route it lacks): type the key.
      state.keyListing = false;
      $('key-form').hidden = false;
      $('key-search').hidden = true;
      $('key-count').textContent = 'this API lists no keys: type one';
      return;
    }
    throw error;
  }
  $('key-count').textContent =
    `${listing.matching} of ${listing.total} keys` +
    (listing.matching > listing.keys.length ? ` (top ${listing.keys.length})` : '');
  if (state.key === null && listing.keys.length > 0 && q === '') {
    state.key = listing.keys[0].key;
    seriesPoller.poke();
  }
  const chosen = state.key === null ? null : JSON.stringify(state.key);
  $('key-list').replaceChildren(
    ...listing.keys.map((entry) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.key = JSON.stringify(entry.key);
      button.setAttribute('aria-pressed', String(button.dataset.key === chosen));
      const name = document.createElement('span');
      name.textContent = keyText(entry.key);
      const count = document.createElement('span');
      count.className = 'muted';
      count.textContent = entry.records;
      button.append(name, count);
      li.append(button);
      return li;
    }),
  );
}

$('key-list').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-key]');
  if (!button) return;
  state.key = JSON.parse(button.dataset.key);
  for (const b of $('key-list').querySelectorAll('button'))
    b.setAttribute('aria-pressed', String(b === button));
  seriesPoller.poke();
});

let searchTimer;
$('key-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => keysPoller.poke(), 200);
});
$('view-select').addEventListener('change', (event) => chooseView(event.target.value));
$('measure-select').addEventListener('change', (event) => {
  state.measure = event.target.value;
  seriesPoller.poke();
});
$('range-select').addEventListener('change', () => seriesPoller.poke());

async function refreshSeries() {
  const view = currentView();
  if (!view || state.key === null) return;
  const rangeMs = Number($('range-select').value);
  const width = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3, '1d': 86400e3 }[view.granularity];
  const toMs = (Math.floor(Date.now() / width) + 1) * width;
  const fromMs = toMs - rangeMs;
  const params = new URLSearchParams({ ...state.key, from: String(fromMs), to: String(toMs) });
  const kappaOnly = state.architecture === 'kappa';
  // Kappa serves one version (no parts); Lambda (and `both`, whose /views is Lambda's) has parts.
  const path = `views/${encodeURIComponent(view.name)}${kappaOnly ? '' : '/parts'}?${params}`;
  const answer = await api(path);
  const m = state.measure;
  const buckets = answer.buckets.map((b) => ({
    start: Date.parse(b.start),
    batch: b.batch ? b.batch[m] : null,
    speed: b.speed ? b.speed[m] : null,
    served: b.measures[m],
  }));
  const lineIso = kappaOnly ? answer.handoff : answer.cutoff;
  chart.show({
    buckets,
    widthMs: width,
    fromMs,
    toMs,
    lineMs: lineIso ? Date.parse(lineIso) : null,
    lineLabel: kappaOnly ? 'handoff' : 'cutoff',
  });
  $('line-label').textContent = kappaOnly ? 'handoff (live processor from here)' : 'cutoff (arrival time)';
  $('series-title').textContent =
    `${view.name} · ${keyText(state.key)} · ${m} · ` +
    (kappaOnly
      ? `kappa version ${answer.version}`
      : `batch v${answer.batchVersion ?? '–'}, cutoff ${answer.cutoff ?? 'none yet'}`);
}

// ---- the pipeline and Kappa -------------------------------------------------------------------

const ingestSamples = [];

async function refreshStatus() {
  const status = await api('admin/status');
  if (status.architecture && status.architecture !== state.architecture) {
    state.architecture = status.architecture;
    seriesPoller.poke();
  }
  $('architecture').textContent = state.architecture;
  // Alone, the Kappa architecture serves no POST /admin/batch.
  $('batch-now').hidden = state.architecture === 'kappa';
  ingestSamples.push({ at: Date.now(), accepted: status.eventsAccepted ?? null });
  if (ingestSamples.length > 10) ingestSamples.shift();
  renderPipeline(status, ingestSamples);
  const kappa = status.kappa ?? (status.architecture === 'kappa' ? status : null);
  $('kappa-panel').hidden = !kappa;
  if (kappa) renderKappa(kappa);
}

async function refreshDeadLetters() {
  renderDeadLetters(await api('admin/dlq'));
}

for (const button of document.querySelectorAll('button[data-action]')) {
  button.addEventListener('click', async () => {
    button.disabled = true;
    $('action-result').textContent = `${button.textContent}…`;
    try {
      const answer = await api(button.dataset.action, { method: 'POST', body: {}, timeoutMs: 600_000 });
      $('action-result').textContent = `${button.textContent}: ${JSON.stringify(answer)}`;
    } catch (error) {
      $('action-result').textContent = `${button.textContent} failed: ${error.message}`;
    } finally {
      button.disabled = false;
      statusPoller.poke();
      seriesPoller.poke();
      deadLetterPoller.poke();
    }
  });
}

const seriesPoller = new Poller(refreshSeries, 2000, panelError($('series-title')));
const keysPoller = new Poller(refreshKeys, 5000, panelError($('key-count')));
const statusPoller = new Poller(refreshStatus, 2000, panelError($('ingest')));
const deadLetterPoller = new Poller(refreshDeadLetters, 5000, panelError($('dlq-depth')));

async function boot() {
  try {
    const { views } = await api('views');
    state.views = views;
  } catch {
    setTimeout(boot, 2000); // the header says why; try again
    return;
  }
  fillSelect(
    $('view-select'),
    state.views.map((v) => v.name),
    state.views[0]?.name,
  );
  statusPoller.start();
  deadLetterPoller.start();
  if (state.views.length > 0) chooseView(state.views[0].name);
  seriesPoller.start();
  keysPoller.start();
}

void boot();
