// Renders GET /admin/status and GET /admin/dlq. Every value is set as text (never as HTML):
// keys, errors and dead-lettered payloads are user data.

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function lines(target, ...rows) {
  target.replaceChildren(...rows.filter(Boolean));
}

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

// The Kappa architecture alone has no speed or batch layer: its status says so with null.
const KAPPA_ONLY = 'none: the Kappa architecture runs alone (its processor is below)';

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '–');

function table(target, head, rows) {
  const header = el('tr');
  header.append(...head.map((h) => el('th', h)));
  target.replaceChildren(
    header,
    ...rows.map((cells) => {
      const tr = el('tr');
      tr.append(...cells.map((c) => (c instanceof Node ? wrap(c) : el('td', c))));
      return tr;
    }),
  );
}

function wrap(node) {
  const td = el('td');
  td.append(node);
  return td;
}

/** Events/s over the samples kept (GET /admin/status's eventsAccepted, polled). */
function rate(samples) {
  const known = samples.filter((s) => s.accepted !== null);
  if (known.length < 2) return null;
  const first = known[0];
  const last = known[known.length - 1];
  return ((last.accepted - first.accepted) * 1000) / Math.max(1, last.at - first.at);
}

export function renderPipeline(status, samples) {
  const perSecond = rate(samples);
  lines(
    $('ingest'),
    el('div', perSecond === null ? '–' : `${perSecond.toFixed(1)} events/s`, 'big'),
    status.eventsAccepted !== undefined &&
      el('div', `${status.eventsAccepted} accepted since start`, 'muted'),
  );

  const shards = status.speed?.shards ?? [];
  if (status.speed === null) lines($('speed-lag'), el('div', KAPPA_ONLY, 'muted'));
  else if (shards.length === 0) lines($('speed-lag'), el('div', 'not reported by this API', 'muted'));
  else {
    const t = el('table');
    table(
      t,
      ['shard', 'lag', 'records'],
      shards.map((s) => [
        s.shardId.replace('shardId-', ''),
        `${s.millisBehindLatest} ms`,
        s.recordsProcessed,
      ]),
    );
    lines($('speed-lag'), t, status.speed.lastError && el('div', status.speed.lastError, 'bad'));
  }

  const archive = status.archive;
  lines(
    $('archive'),
    ...(archive
      ? [
          el('div', bytes(archive.bytesWritten), 'big'),
          el('div', `${archive.recordsArchived} records in ${archive.objectsWritten} objects`, 'muted'),
          el('div', `watermark ${time(archive.watermark)}`),
          archive.recordsRejected > 0 && el('div', `${archive.recordsRejected} rejected`, 'bad'),
          archive.lastError && el('div', archive.lastError, 'bad'),
        ]
      : [el('div', 'not reported by this API', 'muted')]),
  );

  // Local: the scheduler's last run; cloud: the serving pointer only.
  const last = status.batch?.last;
  const pointer = status.batch && 'version' in status.batch ? status.batch : null;
  const version = last?.version ?? pointer?.version ?? null;
  const cutoff = last?.cutoff ?? pointer?.cutoff ?? null;
  const reconciliation = last?.reconciliation;
  if (status.batch === null) lines($('batch'), el('div', KAPPA_ONLY, 'muted'));
  else
    lines(
      $('batch'),
      el('div', version === null ? 'no version yet' : `v${version}`, 'big'),
      el('div', `cutoff ${time(cutoff)}`),
      last && el('div', `last run ${last.status}, ${last.durationMs} ms, ${last.cells} cells`, 'muted'),
      reconciliation === null && el('div', 'reconciliation: first run, nothing to compare', 'muted'),
      reconciliation &&
        el(
          'div',
          reconciliation.error
            ? `reconciliation failed: ${reconciliation.error}`
            : `reconciliation: ${reconciliation.cellsCompared} cells, ${reconciliation.mismatchCount} mismatches`,
          reconciliation.error || reconciliation.mismatchCount > 0 ? 'bad' : 'good',
        ),
      status.batch?.lastError && el('div', `last error: ${status.batch.lastError}`, 'bad'),
    );

  const depth = status.deadLetterQueue?.depth;
  lines(
    $('dlq-depth'),
    el('div', depth ?? '–', depth > 0 ? 'big bad' : 'big'),
    el('div', 'entries (failed batches of records)', 'muted'),
  );
}

export function renderDeadLetters(dlq) {
  table(
    $('dlq-entries'),
    ['when', 'shard', 'first sequence', 'records', 'why', 'last error'],
    dlq.entries
      .slice(0, 50)
      .map((e) => [
        time(e.timestamp),
        e.KinesisBatchInfo.shardId,
        e.KinesisBatchInfo.startSequenceNumber,
        e.KinesisBatchInfo.batchSize,
        e.requestContext.condition,
        e.lastError,
      ]),
  );
  $('dlq-details').querySelector('summary').textContent =
    `dead-letter entries (${dlq.depth}${dlq.entries.length > 50 ? ', first 50 shown' : ''})`;
}

const lastActive = new Map();
const flips = [];

const version = (v) => (v ? `v${v.version}` : '–');

export function renderKappa(kappa) {
  const views = Object.entries(kappa.views ?? {});
  table(
    $('kappa-versions'),
    ['view', 'active', 'previous', 'building'],
    views.map(([name, v]) => [name, version(v.active), version(v.previous), version(v.building)]),
  );
  for (const [name, v] of views) {
    const active = v.active?.version ?? null;
    if (lastActive.has(name) && lastActive.get(name) !== active)
      flips.unshift(
        `${new Date().toLocaleTimeString()}: ${name} flipped v${lastActive.get(name)} → v${active}`,
      );
    lastActive.set(name, active);
  }
  flips.splice(5);
  $('flips').replaceChildren(...flips.map((f) => el('li', f)));

  const r = kappa.replay;
  if (!r) {
    lines($('replay'), el('div', 'no replay yet', 'muted'));
    return;
  }
  const progress = el('progress');
  progress.max = r.objects.total ?? 1;
  progress.value = r.status === 'running' ? r.objects.done : progress.max;
  lines(
    $('replay'),
    el('div', `replay v${r.version} (${r.views.join(', ')}): ${r.status}${r.phase ? `, ${r.phase}` : ''}`),
    progress,
    el(
      'div',
      `${r.objects.done}/${r.objects.total ?? '?'} objects, ${r.events} events, ${r.eventsPerSecond} events/s` +
        (r.lagBehindLiveMs === null ? '' : `, ${Math.round(r.lagBehindLiveMs / 1000)} s behind live`) +
        (r.etaSeconds === null ? '' : `, ETA ${r.etaSeconds} s`),
      'muted',
    ),
    el('div', `handoff ${time(r.handoff)}`),
    r.error && el('div', r.error, 'bad'),
    kappa.replayRunnerError && el('div', kappa.replayRunnerError, 'bad'),
  );
}
