// Runs the script of a memprof flame graph (argv[2]) on a minimal stand-in
// for the DOM, for tests/integration/flamegraph.sh: hover, zoom, search.
const fs = require('fs');
const svg = fs.readFileSync(process.argv[2], 'utf8');
const script = svg.split('<![CDATA[')[1].split(']]>')[0];
function el(attrs, text) {
  return { attrs, textContent: text, style: {}, listeners: {},
    getAttribute(k) { return this.attrs[k]; }, setAttribute(k, v) { this.attrs[k] = String(v); },
    addEventListener(e, f) { this.listeners[e] = f; } };
}
function parseAttrs(s) { const a = {}; s.replace(/([\w-]+)="([^"]*)"/g, (m, k, v) => { a[k] = v; }); return a; }
const unesc = s => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
const gs = [];
for (const m of svg.matchAll(/<g class="f"([^>]*)><title>([^<]*)<\/title><rect([^>]*)\/><text([^>]*)>([^<]*)<\/text><\/g>/g)) {
  const g = el(parseAttrs(m[1]));
  for (const k in g.attrs) g.attrs[k] = unesc(g.attrs[k]);
  const title = el({}, unesc(m[2])), rect = el(parseAttrs(m[3])), text = el(parseAttrs(m[4]), m[5]);
  g.getElementsByTagName = t => [{ rect, text, title }[t]];
  gs.push(g);
}
const ids = {};
for (const id of ['details', 'matched']) ids[id] = el({}); 
for (const id of ['details', 'matched']) ids[id].firstChild = { nodeValue: ' ' };
ids.unzoom = el({}); ids.search = el({});
const root = { getElementsByClassName: () => gs };
global.document = { getElementById: id => ids[id], documentElement: root };
global.window = { addEventListener() {} };
let answer = '';
global.prompt = () => answer;
// What the SVG's onload does: init() sets up the graph with mp_flame().
eval(script + '\nglobal.api = mp_flame(document.documentElement, "", true);');
const byName = n => gs.find(g => g.attrs['data-n'] === n);
const show = () => gs.map(g => `${g.attrs['data-n']} ${g.style.display === 'none' ? 'hidden' : g.getElementsByTagName('rect')[0].attrs.x + '+' + g.getElementsByTagName('rect')[0].attrs.width} "${g.getElementsByTagName('text')[0].textContent}"`).join('\n');
byName('hold_blocks').listeners.mouseover.call(byName('hold_blocks'));
console.log('hover:', ids.details.firstChild.nodeValue);
byName('hold_blocks').listeners.click.call(byName('hold_blocks'));
console.log('zoomed:\n' + show());
api.reset_zoom();
console.log('reset:\n' + show());
api.search('^(hold|leak)');
console.log('search:', ids.matched.firstChild.nodeValue, gs.filter(g => g.getElementsByTagName('rect')[0].attrs.fill === 'rgb(230,0,230)').map(g => g.attrs['data-n']).join(','));
api.search('main|hold');
console.log('search nested:', ids.matched.firstChild.nodeValue);
