/** The page's only stylesheet, inlined: the report opens offline, from a file, anywhere. */
export const STYLE = `
:root { --ink: #1b1f24; --muted: #67707a; --line: #d8dde3; --bg: #f6f7f9; --card: #fff; --accent: #0072b2; --best: #fff6d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #14213d; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .path { font-family: ui-monospace, monospace; opacity: .85; word-break: break-all; }
.chips { margin-top: 10px; display: flex; gap: 8px; flex-wrap: wrap; }
.chip { background: rgba(255,255,255,.14); border-radius: 12px; padding: 2px 10px; }
.chip.warn { background: #b45309; }
nav { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 32px; display: flex; gap: 16px; flex-wrap: wrap; }
nav a { color: var(--accent); text-decoration: none; }
main { padding: 8px 32px 48px; max-width: 1400px; }
section { margin-top: 28px; }
h2 { font-size: 18px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.caption, .muted { color: var(--muted); }
.muted { font-size: 12px; }
table { border-collapse: collapse; background: var(--card); margin: 6px 0 18px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px; text-align: right; white-space: nowrap; }
th.text, td.text { text-align: left; }
td .unfinished-reason { display: block; text-align: left; }
th { background: #eef1f4; font-weight: 600; }
tr.best td { background: var(--best); font-weight: 600; }
tr.unfinished td { color: var(--muted); font-style: italic; }
.std { color: var(--muted); font-weight: 400; font-size: 12px; }
.up { color: #1a7f37; font-weight: 700; } .down { color: #cf222e; font-weight: 700; } .same { color: var(--muted); }
.grid { display: flex; flex-wrap: wrap; gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.legend { margin: 0 0 6px; font-size: 12px; }
.swatch { display: inline-block; width: 14px; height: 4px; border-radius: 2px; vertical-align: middle; margin: 0 4px 0 8px; }
.chart { overflow: visible; font-size: 11px; }
.chart .chart-title { font-weight: 600; font-size: 12px; fill: var(--ink); }
.chart .tick { fill: var(--muted); }
.chart .axis-label { fill: var(--muted); }
.chart .grid { stroke: #eceff2; }
.chart .axis { stroke: #9aa3ad; }
.chart .curve { fill: none; stroke-width: 1.8; }
.chart .best-mark { fill: #fff; stroke-width: 2; }
.chart .whisker { stroke-width: 3; stroke-linecap: round; opacity: .5; }
.chart .best-label { fill: var(--ink); font-weight: 700; }
.chart .bar-value { fill: var(--muted); font-size: 10px; }
.confusion .cm-share { font-size: 12px; font-weight: 600; }
.confusion .cm-count { font-size: 10px; opacity: .85; }
.confusion rect.diag { stroke: #e69f00; stroke-width: 1.5; }
.gallery { margin-bottom: 16px; width: 100%; }
.view { margin: 8px 0; }
.view-name { font-weight: 600; margin-bottom: 4px; }
.view-name .muted { font-weight: 400; margin-left: 8px; }
.drawn { margin: 6px 0 0; padding-left: 18px; font-size: 12px; overflow-wrap: anywhere; }
.samples { display: flex; flex-wrap: wrap; gap: 10px; }
.sample { margin: 0; width: 96px; text-align: center; }
.sample img { width: 96px; height: 96px; image-rendering: pixelated; border-radius: 4px; border: 1px solid var(--line); display: block; }
.sample figcaption { font-size: 11px; line-height: 1.3; margin-top: 3px; }
.sample figcaption span { display: block; }
.sample figcaption span:first-child { font-weight: 600; }
ul.notes li { color: #8a4b00; }
`;
