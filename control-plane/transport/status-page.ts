// A self-contained status page (no external assets): it fetches /v1/status
// every two seconds and renders nodes (one block per node; a node without an
// open stream, i.e. a disconnected or crashed Envoy, is an alarm), ACKed
// versions, NACKs, secrets with their expiry state (computed by the control
// plane relative to each certificate's lifetime) and the capsule manager's
// recent decisions. Every value is put
// in the DOM with textContent (never innerHTML): records from other services
// cannot inject markup.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aenv control plane</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
  th { background: #f4f4f4; }
  #nodes td[rowspan] { white-space: nowrap; } #nodes td.alarm[title] { white-space: normal; min-width: 12rem; }
  code { font-size: 12px; }
  .ok { color: #136c2e; } .bad { color: #b00020; font-weight: 600; } .muted { color: #777; }
  .warn { color: #8a5300; font-weight: 600; }
  tr.expired td { background: #fde7ea; } tr.expiring td { background: #fff4d6; }
  tr.alarm td { background: #fde7ea; } td.alarm { color: #b00020; font-weight: 700; }
  tbody.node { border-top: 2px solid #bbb; }
  #alarms { background: #b00020; color: #fff; font-weight: 600; padding: .4rem .6rem; margin: .5rem 0; border-radius: .3rem; }
  #alarms:empty { display: none; }
  .pill { display: inline-block; padding: 0 .4rem; border-radius: .6rem; font-size: 12px; }
  .pill.expired { background: #b00020; color: #fff; } .pill.expiring { background: #f0b400; color: #222; } .pill.valid { background: #d7f0dd; color: #136c2e; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>aenv control plane <span id="cpid" class="muted"></span></h1>
<div id="summary" class="muted">loading…</div>
<div id="error" role="alert"></div>
<div id="alarms" role="alert"></div>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>cluster</th><th>streams</th><th>connected since</th><th>last ACK at</th><th>type</th><th>ACKed version</th><th>sent version</th><th>last NACK</th></tr></thead></table>
<h2>Services</h2>
<div id="services-summary" class="muted"></div>
<table id="services"><thead><tr><th>service</th><th>health URL</th><th>state</th><th>since</th><th>times down</th><th>last error</th></tr></thead><tbody></tbody></table>
<h2>Communication groups</h2>
<div id="groups-summary" class="muted"></div>
<table id="groups"><thead><tr><th>group</th><th>state</th><th>leaf expires</th><th>rotations</th><th>failures</th><th>last error</th></tr></thead><tbody></tbody></table>
<h2>Secrets</h2>
<div id="secrets-summary" class="muted"></div>
<table id="secrets"><thead><tr><th>name</th><th>kind</th><th>subject</th><th>expires at</th><th>expires in</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Capsule manager decisions</h2>
<div id="cm-summary" class="muted"></div>
<table id="cm-decisions"><thead><tr><th>time</th><th>action</th><th>party</th><th>resource</th><th>decision</th><th>reason</th></tr></thead><tbody></tbody></table>
<h2>Snapshot</h2>
<table id="snapshot"><thead><tr><th>type</th><th>version</th><th>resources</th></tr></thead><tbody></tbody></table>
<script>
const short = (t) => String(t).split('.').pop();
function cell(tr, text, cls) { const td = document.createElement('td'); td.textContent = text == null ? '' : String(text); if (cls) td.className = cls; tr.appendChild(td); return td; }
function duration(sec) {
  const a = Math.abs(sec); const d = Math.floor(a / 86400), h = Math.floor((a % 86400) / 3600), m = Math.floor((a % 3600) / 60);
  const txt = d ? d + ' d ' + h + ' h' : h ? h + ' h ' + m + ' min' : m ? m + ' min' : a + ' s';
  return sec < 0 ? 'expired ' + txt + ' ago' : 'in ' + txt;
}
// Party ids are long (hashes, key digests): show the ends, keep the whole in the tooltip.
function shortParty(p) { p = String(p == null ? '' : p); return p.length > 20 ? p.slice(0, 10) + '…' + p.slice(-6) : p; }
// Times compact on the page (seconds, UTC), the exact ISO value in the tooltip.
function when(iso) { return iso ? String(iso).replace('T', ' ').replace(/\\.\\d+Z$/, 'Z') : iso; }
function timeCell(tr, iso, cls, prefix) { const td = cell(tr, iso ? (prefix || '') + when(iso) + (prefix ? ')' : '') : iso, cls); if (iso) td.title = iso; return td; }
function fill(id, rows) { const tb = document.querySelector('#' + id + ' tbody'); tb.replaceChildren(...rows); }
async function refresh() {
  try {
    const r = await fetch('/v1/status', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const s = await r.json();
    document.getElementById('error').textContent = '';
    document.getElementById('cpid').textContent = s.controlPlaneId;
    document.getElementById('summary').textContent = s.connectedNodes + ' connected node(s); snapshot ' + (s.snapshot ? s.snapshot.label : 'none') + '; routing revision ' + s.routing.revision + ' (' + s.replication.mode + ')';
    // One tbody per node: node, cluster, streams and times once (rowspan), then a row per type.
    const blocks = [];
    const down = [];
    for (const n of s.nodes) {
      const types = Object.entries(n.types);
      if (!types.length) types.push(['', {}]);
      const gone = n.streams === 0;
      if (gone) down.push(n.nodeId);
      const tb = document.createElement('tbody'); tb.className = 'node'; tb.dataset.node = n.nodeId;
      types.forEach(([t, st], i) => {
        const tr = document.createElement('tr');
        if (gone) tr.className = 'alarm';
        if (i === 0) {
          const span = (td) => { td.rowSpan = types.length; return td; };
          span(cell(tr, n.nodeId)); span(cell(tr, n.cluster)); span(cell(tr, n.streams, gone ? 'alarm' : 'ok'));
          span(gone ? timeCell(tr, n.lastSeen, 'alarm', 'DISCONNECTED (last seen ') : timeCell(tr, n.connectedSince));
          span(n.lastAckAt ? timeCell(tr, n.lastAckAt) : cell(tr, 'never', 'muted'));
        }
        cell(tr, short(t));
        cell(tr, st.ackedVersion, st.ackedVersion && st.ackedVersion === st.sentVersion ? 'ok' : '');
        cell(tr, st.sentVersion);
        cell(tr, st.lastNack ? st.lastNack.version + ': ' + st.lastNack.message + ' (' + st.lastNack.at + ')' : '', st.lastNack ? 'bad nack' : '');
        tb.appendChild(tr);
      });
      blocks.push(tb);
    }
    const table = document.getElementById('nodes');
    table.replaceChildren(table.tHead, ...blocks);
    // Watched services (ext-proc, capsule manager, ...): one that stopped answering is an alarm.
    const svc = s.services || [];
    const svcDown = svc.filter((x) => x.up === false).map((x) => x.name);
    const ssum = document.getElementById('services-summary');
    ssum.textContent = s.services ? svc.length + ' watched service(s)' + (svcDown.length ? '; ' + svcDown.length + ' DOWN' : '; all up') : 'none watched (control-plane config services.targets)';
    ssum.className = svcDown.length ? 'bad' : 'muted';
    fill('services', svc.map((x) => {
      const tr = document.createElement('tr'); tr.dataset.service = x.name; if (x.up === false) tr.className = 'alarm';
      cell(tr, x.name); cell(tr, x.url);
      cell(tr, x.up === null ? 'unknown' : x.up ? 'up' : 'DOWN', x.up === false ? 'alarm' : x.up ? 'ok' : 'muted');
      if (x.since) timeCell(tr, x.since); else cell(tr, '');
      cell(tr, x.downs, x.downs ? 'warn' : ''); cell(tr, x.lastError || '');
      return tr;
    }));
    const gs = s.groups || [];
    const gsum = document.getElementById('groups-summary');
    const gBad = gs.filter((g) => g.state === 'denied' || g.state === 'failing').map((g) => g.name);
    gsum.textContent = s.groups ? gs.length + ' group(s) from config' + (gBad.length ? '; ' + gBad.length + ' not served: ' + gBad.join(', ') : '') : 'none configured (control-plane config groups)';
    gsum.className = gBad.length ? 'bad' : 'muted';
    fill('groups', gs.map((g) => {
      const tr = document.createElement('tr'); tr.dataset.group = g.name; if (g.state === 'denied' || g.state === 'failing') tr.className = 'alarm';
      cell(tr, g.name); cell(tr, g.state, g.state === 'active' ? 'ok' : g.state === 'pending' ? 'muted' : 'alarm');
      if (g.notAfter) timeCell(tr, g.notAfter); else cell(tr, '');
      cell(tr, g.rotations); cell(tr, g.failures, g.failures ? 'warn' : ''); cell(tr, g.lastError || '');
      return tr;
    }));
    const alarms = [];
    if (down.length) alarms.push(down.length + ' Envoy node(s) disconnected (crashed, stopped or cut off): ' + down.join(', '));
    if (svcDown.length) alarms.push(svcDown.length + ' service(s) DOWN: ' + svcDown.join(', '));
    document.getElementById('alarms').textContent = alarms.length ? 'ALARM: ' + alarms.join('; ') : '';
    const states = s.secrets.map((x) => x.state);
    const nExpired = states.filter((x) => x === 'expired').length, nExpiring = states.filter((x) => x === 'expiring').length;
    const ss = document.getElementById('secrets-summary');
    ss.textContent = s.secrets.length + ' secret(s)' + (nExpired ? '; ' + nExpired + ' EXPIRED' : '') + (nExpiring ? '; ' + nExpiring + ' expiring (under a third of its lifetime left)' : '');
    ss.className = nExpired ? 'bad' : nExpiring ? 'warn' : 'muted';
    // Soonest expiry first: what needs attention is on top.
    fill('secrets', [...s.secrets].sort((a, b) => a.expiresInSeconds - b.expiresInSeconds).map((x) => {
      const st = x.state;
      const tr = document.createElement('tr'); tr.className = st === 'valid' ? '' : st; tr.dataset.secret = x.name;
      cell(tr, x.name); cell(tr, x.kind); cell(tr, x.subject); cell(tr, x.notAfter);
      cell(tr, duration(x.expiresInSeconds), st === 'expired' ? 'bad' : st === 'expiring' ? 'warn' : '');
      const td = cell(tr, ''); const pill = document.createElement('span'); pill.className = 'pill ' + st; pill.textContent = st; td.appendChild(pill);
      return tr;
    }));
    const cm = s.cmDecisions;
    const cs = document.getElementById('cm-summary');
    if (!cm) { cs.textContent = 'not configured (control-plane config capsuleManager.decisionsUrl)'; cs.className = 'muted'; fill('cm-decisions', []); }
    else {
      cs.textContent = 'source ' + cm.source + '; fetched ' + (cm.fetchedAt || 'never') + (cm.error ? '; last attempt failed: ' + cm.error : '');
      cs.className = cm.error ? 'bad' : 'muted';
      fill('cm-decisions', cm.records.map((d) => {
        const tr = document.createElement('tr'); tr.className = 'decision';
        const when = cell(tr, d.time); if (d.replica) when.title = 'decided by CM replica ' + d.replica; cell(tr, d.action);
        cell(tr, shortParty(d.initiator_party_id)).title = d.initiator_party_id;
        cell(tr, d.resource_uri); cell(tr, d.decision, d.decision === 'deny' ? 'bad' : 'ok'); cell(tr, d.reason);
        return tr;
      }));
    }
    fill('snapshot', s.snapshot ? Object.entries(s.snapshot.versions).map(([t, v]) => { const tr = document.createElement('tr'); cell(tr, short(t)); cell(tr, v); cell(tr, s.snapshot.counts[t]); return tr; }) : []);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    document.getElementById('error').textContent = 'status unavailable: ' + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
