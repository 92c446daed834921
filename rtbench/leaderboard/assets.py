"""The site's one stylesheet and one script, written beside the pages: no CDN, nothing fetched, works from disk.

The script makes every ``table.sortable`` sortable by clicking a header: cells sort on their
``data-v`` value (numeric when every value is a number, missing values last), a second click
reverses the order (a ready table says ``data-sortable="ready"``). Without JavaScript the tables
keep their ranked order. Once the page has loaded, a plot image that did not load says so in the
page (``data-loaded="0"`` and a visible note; ``"1"`` when it loaded).
"""

from __future__ import annotations

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; max-width: 1600px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1em; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
tr.entry td { background: #fffbe8; }
.verdict-ok { color: #176117; } .verdict-breaks { color: #a11; } .verdict-borderline, .verdict-mixed { color: #a65f00; font-weight: bold; }
.smoke { background: #fde2e2; color: #800; padding: 4px 8px; display: inline-block; font-weight: bold; }
.note { color: #555; font-size: 12px; } .constraints { font-family: monospace; }
img.plot { max-width: 100%; border: 1px solid #eee; }
details summary { cursor: pointer; } svg.arch { display: block; margin: 4px 0; background: #fff; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
code { font-size: 12px; }
"""

JS = """
(function () {
  function key(td) { return td ? (td.getAttribute('data-v') ?? td.textContent.trim()) : ''; }
  function sortBy(table, col, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var desc = th.classList.contains('sorted-asc');
    var vals = rows.map(function (r) { return key(r.cells[col]); });
    var numeric = vals.every(function (v) { return v === '' || !isNaN(parseFloat(v)); });
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === '' && y !== '') return 1; if (y === '' && x !== '') return -1;
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
    th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener('click', function () { sortBy(table, col, th); });
    });
    table.setAttribute('data-sortable', 'ready');
  });
  window.addEventListener('load', function () {
    document.querySelectorAll('img.plot').forEach(function (img) {
      var ok = img.complete && img.naturalWidth > 0;
      img.setAttribute('data-loaded', ok ? '1' : '0');
      if (ok) return;
      var p = document.createElement('p');
      p.className = 'smoke';
      p.textContent = 'plot did not load: ' + img.getAttribute('src');
      img.after(p);
    });
  });
})();
"""
