/** The page's style sheet: served as /assets/page.css by `rollout ui`, inlined in an HTML report. */
export const PAGE_CSS = `
:root { --good: #2b8a3e; --bad: #c92a2a; --warn: #e67700; --muted: #868e96; --line: #dee2e6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #212529; background: #f8f9fa; }
#main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
#connection { position: fixed; top: 6px; right: 10px; font-size: 12px; color: var(--muted); }
h1 { display: inline-block; margin: 4px 12px 4px 0; font-size: 22px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
a { color: #1864ab; }
.back { display: block; font-size: 12px; }
.meta { color: var(--muted); margin: 2px 0 8px; }
.mono, code { font-family: ui-monospace, monospace; font-size: 12px; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; }
.badge.good { background: #d3f9d8; color: var(--good); }
.badge.bad { background: #ffe3e3; color: var(--bad); }
.badge.running { background: #d0ebff; color: #1864ab; }
.badge.gone { background: #fff3bf; color: var(--warn); }
.badge.neutral { background: #e9ecef; color: #495057; }
.banner { margin: 8px 0; padding: 10px 14px; border-radius: 6px; background: #e9ecef; }
.banner.hot { background: var(--bad); color: #fff; font-size: 18px; }
.banner.bad { background: #ffe3e3; }
.banner.gone { background: #fff3bf; }
.actions { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
.actions button { padding: 6px 14px; font-weight: 600; cursor: pointer; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr.running td:first-child { border-left: 3px solid #1c7ed6; }
.timeline { list-style: none; display: flex; flex-wrap: wrap; gap: 4px; padding: 0; margin: 0; }
.timeline li { padding: 4px 10px; border-radius: 4px; background: #e9ecef; color: var(--muted); }
.timeline li.done { background: #d3f9d8; color: var(--good); }
.timeline li.current { background: #1c7ed6; color: #fff; font-weight: 600; }
.timeline li.stopped { background: #fff3bf; color: var(--warn); font-weight: 600; }
.timeline li.failed { background: var(--bad); color: #fff; font-weight: 600; }
.timeline li.skipped { text-decoration: line-through; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 10px; padding: 0; margin: 0 0 8px; }
.legend li::before { content: ''; display: inline-block; width: 10px; height: 10px; margin-right: 4px;
  border-radius: 2px; background: var(--cell); }
.grid { display: flex; flex-wrap: wrap; gap: 2px; }
.drone { width: 16px; height: 16px; border-radius: 2px; background: var(--cell); }
.cell-pending { --cell: #dee2e6; } .cell-paused { --cell: #ffd43b; } .cell-deferred { --cell: #b197fc; }
.cell-pushed { --cell: #74c0fc; } .cell-updated { --cell: #40c057; } .cell-rolled_back { --cell: #ff922b; }
.cell-unchanged { --cell: #adb5bd; } .cell-failed { --cell: #fa5252; }
.cell-hot { --cell: #c92a2a; } .drone.cell-hot { outline: 2px solid #000; }
.metrics { display: grid; grid-template-columns: 1fr; gap: 12px; }
.metric { background: #fff; padding: 8px 12px; border: 1px solid var(--line); border-radius: 6px; }
.verdicts td, .verdicts th { font-size: 12px; }
.verdicts tr.verdict-pass .verdict { color: var(--good); }
.verdicts tr.verdict-high .verdict, .verdicts tr.verdict-low .verdict { color: var(--bad); font-weight: 600; }
.events { list-style: none; padding: 0; margin: 0; font-family: ui-monospace, monospace; font-size: 12px; }
.events li { padding: 2px 0; border-bottom: 1px solid #f1f3f5; overflow-wrap: anywhere; }
.events .when { color: var(--muted); margin-right: 8px; }
.events b { margin-right: 4px; }
.empty { color: var(--muted); }
`;
