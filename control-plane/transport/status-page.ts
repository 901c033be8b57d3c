// A self-contained status page (no external assets): it fetches /v1/status
// every two seconds and renders nodes, ACKed versions, NACKs and secrets.
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
  code { font-size: 12px; }
  .ok { color: #136c2e; } .bad { color: #b00020; font-weight: 600; } .muted { color: #777; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>aenv control plane <span id="cpid" class="muted"></span></h1>
<div id="summary" class="muted">loading…</div>
<div id="error" role="alert"></div>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>cluster</th><th>streams</th><th>type</th><th>ACKed version</th><th>sent version</th><th>last NACK</th></tr></thead><tbody></tbody></table>
<h2>Secrets</h2>
<table id="secrets"><thead><tr><th>name</th><th>kind</th><th>subject</th><th>expires</th></tr></thead><tbody></tbody></table>
<h2>Snapshot</h2>
<table id="snapshot"><thead><tr><th>type</th><th>version</th><th>resources</th></tr></thead><tbody></tbody></table>
<script>
const short = (t) => String(t).split('.').pop();
function cell(tr, text, cls) { const td = document.createElement('td'); td.textContent = text == null ? '' : String(text); if (cls) td.className = cls; tr.appendChild(td); return td; }
function fill(id, rows) { const tb = document.querySelector('#' + id + ' tbody'); tb.replaceChildren(...rows); }
async function refresh() {
  try {
    const r = await fetch('/v1/status', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const s = await r.json();
    document.getElementById('error').textContent = '';
    document.getElementById('cpid').textContent = s.controlPlaneId;
    document.getElementById('summary').textContent = s.connectedNodes + ' connected node(s); snapshot ' + (s.snapshot ? s.snapshot.label : 'none') + '; routing revision ' + s.routing.revision + ' (' + s.replication.mode + ')';
    const nodeRows = [];
    for (const n of s.nodes) {
      const types = Object.entries(n.types);
      if (!types.length) types.push(['', {}]);
      for (const [t, st] of types) {
        const tr = document.createElement('tr');
        tr.dataset.node = n.nodeId;
        cell(tr, n.nodeId); cell(tr, n.cluster); cell(tr, n.streams, n.streams > 0 ? 'ok' : 'muted'); cell(tr, short(t));
        cell(tr, st.ackedVersion, st.ackedVersion && st.ackedVersion === st.sentVersion ? 'ok' : '');
        cell(tr, st.sentVersion);
        cell(tr, st.lastNack ? st.lastNack.version + ': ' + st.lastNack.message + ' (' + st.lastNack.at + ')' : '', st.lastNack ? 'bad nack' : '');
        nodeRows.push(tr);
      }
    }
    fill('nodes', nodeRows);
    fill('secrets', s.secrets.map((x) => { const tr = document.createElement('tr'); cell(tr, x.name); cell(tr, x.kind); cell(tr, x.subject); cell(tr, x.notAfter + ' (' + Math.round(x.expiresInSeconds / 3600) + ' h)', x.expiresInSeconds < 86400 ? 'bad' : ''); return tr; }));
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
