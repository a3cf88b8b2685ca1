// mv37 ui: the stats page — latency percentiles per span name, tokens and cost over
// time, error rate over time, drawn as SVG.
'use strict';

(function () {
  const { h, svg, clear, api, formatDuration, formatTime, formatCost, formatCount } = MV37;

  MV37.views.stats = async function (main) {
    const load = async () => {
      const stats = await api('/api/stats');
      clear(main).append(renderStats(stats));
    };
    await load();
    MV37.current = { onChange: MV37.debounce(() => load().catch(() => {}), 1000) };
  };

  function renderStats(stats) {
    const errorRate = stats.traces ? (100 * stats.errors) / stats.traces : 0;
    const page = h('section', { class: 'stats-page' }, h('h1', { text: 'Stats' }),
      h('div', { class: 'cards' },
        card('traces', formatCount(stats.traces) || '0'),
        card('error rate', errorRate.toFixed(1) + ' %'),
        card('tokens', formatCount(stats.tokens) || '0'),
        card('cost', formatCost(stats.cost) || '$0')));
    if (!stats.traces) {
      page.append(h('p', { class: 'muted', text: 'No traces yet.' }));
      return page;
    }
    page.append(h('div', { class: 'panel' }, h('h2', { text: 'Latency per span name (p50, p95, p99)' }), latencyChart(stats.span_names)));
    const label = (bucket) => formatTime(bucket.start).slice(0, 16);
    const bucketText = ' per ' + formatDuration(stats.bucket_ns);
    page.append(h('div', { class: 'charts' },
      h('div', { class: 'panel' }, h('h2', { text: 'Tokens' + bucketText }),
        columnChart(stats.buckets, (b) => b.tokens, (v) => formatCount(Math.round(v)) || '0', label, 'tokens-chart')),
      h('div', { class: 'panel' }, h('h2', { text: 'Cost' + bucketText }),
        columnChart(stats.buckets, (b) => b.cost, (v) => formatCost(v) || '$0', label, 'cost-chart')),
      h('div', { class: 'panel' }, h('h2', { text: 'Error rate' + bucketText }),
        lineChart(stats.buckets, (b) => (b.traces ? (100 * b.errors) / b.traces : null), (v) => v.toFixed(1) + ' %', label, 'errors-chart'))));
    page.append(h('div', { class: 'panel' }, h('h2', { text: 'Span names' }), spanTable(stats.span_names)));
    return page;
  }

  function card(label, value) {
    return h('div', { class: 'card' }, h('div', { class: 'card-value', text: value }), h('div', { class: 'card-label', text: label }));
  }

  const WIDTH = 420;
  const WIDE = 900;

  /** Three bars per span name (p50, p95, p99) on one linear scale. */
  function latencyChart(rows) {
    rows = rows.slice(0, 15);
    const labelWidth = 170;
    const barHeight = 7;
    const rowHeight = barHeight * 3 + 10;
    const height = rows.length * rowHeight + 30;
    const max = Math.max(1, ...rows.map((r) => r.p99));
    const scale = (v) => ((WIDE - labelWidth - 70) * v) / max;
    const chart = svg('svg', { class: 'chart wide', id: 'latency-chart', viewBox: `0 0 ${WIDE} ${height}`, role: 'img' });
    rows.forEach((row, i) => {
      const y = i * rowHeight + 4;
      chart.append(svg('text', { x: labelWidth - 6, y: y + barHeight * 2, 'text-anchor': 'end', class: 'chart-label' }, row.name));
      [['p50', row.p50], ['p95', row.p95], ['p99', row.p99]].forEach(([name, value], j) => {
        const width = Math.max(1, scale(value));
        chart.append(svg('rect', { x: labelWidth, y: y + j * barHeight, width, height: barHeight - 1, class: 'bar-' + name },
          svg('title', null, `${row.name} ${name}: ${formatDuration(value)}`)));
        if (j === 2) chart.append(svg('text', { x: labelWidth + width + 4, y: y + j * barHeight + barHeight - 1, class: 'chart-value' }, formatDuration(value)));
      });
    });
    const legendY = height - 10;
    [['p50', 0], ['p95', 70], ['p99', 140]].forEach(([name, dx]) => {
      chart.append(svg('rect', { x: labelWidth + dx, y: legendY - 8, width: 10, height: 10, class: 'bar-' + name }));
      chart.append(svg('text', { x: labelWidth + dx + 14, y: legendY + 1, class: 'chart-label' }, name));
    });
    return chart;
  }

  function axes(chart, height, max, format, buckets, label) {
    const left = 66;
    const bottom = height - 24;
    for (let i = 0; i <= 4; i++) {
      const y = bottom - ((bottom - 10) * i) / 4;
      chart.append(svg('line', { x1: left, x2: WIDTH, y1: y, y2: y, class: 'grid' }));
      chart.append(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, format((max * i) / 4)));
    }
    if (buckets.length) {
      chart.append(svg('text', { x: left, y: height - 6, class: 'chart-label' }, label(buckets[0])));
      chart.append(svg('text', { x: WIDTH, y: height - 6, 'text-anchor': 'end', class: 'chart-label' }, label(buckets[buckets.length - 1])));
    }
    return { left, bottom };
  }

  function columnChart(buckets, value, format, label, id) {
    const height = 200;
    const max = Math.max(1e-9, ...buckets.map(value));
    const chart = svg('svg', { class: 'chart', id, viewBox: `0 0 ${WIDTH} ${height}`, role: 'img' });
    const { left, bottom } = axes(chart, height, max, format, buckets, label);
    const step = (WIDTH - left) / Math.max(1, buckets.length);
    buckets.forEach((bucket, i) => {
      const v = value(bucket);
      const barHeight = ((bottom - 10) * v) / max;
      chart.append(svg('rect', { x: left + i * step + 1, y: bottom - barHeight, width: Math.max(1, step - 2), height: barHeight, class: 'column' },
        svg('title', null, `${label(bucket)}: ${format(v)}`)));
    });
    return chart;
  }

  function lineChart(buckets, value, format, label, id) {
    const height = 200;
    const values = buckets.map(value);
    const max = Math.max(1, ...values.filter((v) => v !== null));
    const chart = svg('svg', { class: 'chart', id, viewBox: `0 0 ${WIDTH} ${height}`, role: 'img' });
    const { left, bottom } = axes(chart, height, max, format, buckets, label);
    const step = (WIDTH - left) / Math.max(1, buckets.length);
    const points = [];
    values.forEach((v, i) => {
      if (v === null) return;
      const x = left + i * step + step / 2;
      const y = bottom - ((bottom - 10) * v) / max;
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      chart.append(svg('circle', { cx: x, cy: y, r: 2.5, class: 'point' }, svg('title', null, `${label(buckets[i])}: ${format(v)}`)));
    });
    if (points.length > 1) chart.insertBefore(svg('polyline', { points: points.join(' '), class: 'line' }), chart.firstChild.nextSibling);
    return chart;
  }

  function spanTable(rows) {
    return h('table', { class: 'list', id: 'span-stats' },
      h('thead', null, h('tr', null, ['span name', 'kind', 'spans', 'errors', 'p50', 'p95', 'p99'].map((t) => h('th', { text: t })))),
      h('tbody', null, rows.map((row) => h('tr', null,
        h('td', { text: row.name }), h('td', null, row.kinds.map((k) => MV37.kindBadge(k))),
        h('td', { class: 'num', text: formatCount(row.count) }), h('td', { class: 'num', text: formatCount(row.errors) || '0' }),
        h('td', { class: 'num', text: formatDuration(row.p50) }), h('td', { class: 'num', text: formatDuration(row.p95) }),
        h('td', { class: 'num', text: formatDuration(row.p99) })))));
  }
})();
