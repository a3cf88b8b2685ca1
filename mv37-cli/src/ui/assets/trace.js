// mv37 ui: the trace page — the span tree beside a waterfall on one time axis, the
// conversation as a chat transcript, the selected span's details, feedback and signals.
'use strict';

(function () {
  const { h, clear, api, formatDuration, formatTime, formatCost, formatCount, statusBadge, kindBadge, safeImageSource } = MV37;

  const TRUNCATED = 'mv37.truncated';
  const SERIALIZATION_ERROR = 'mv37.serialization_error';
  const DEPTH_LIMIT = 'mv37.depth_limit';
  const REDACTION_ERROR = 'mv37.redaction_error';

  MV37.views.trace = async function (main, id) {
    let lastText = null;
    let selected = null;
    const load = async () => {
      const response = await fetch('/api/traces/' + id);
      if (!response.ok) throw new Error(response.status === 404 ? 'no trace with id ' + id : await response.text());
      const text = await response.text();
      if (text === lastText) return;
      lastText = text;
      const detail = JSON.parse(text);
      const scroll = window.scrollY;
      clear(main).append(renderTrace(detail, selected, (spanId) => (selected = spanId)));
      window.scrollTo(0, scroll);
    };
    await load();
    MV37.current = { onChange: MV37.debounce(() => load().catch(() => {}), 150) };
  };

  // ------------------------------------------------------------ model

  /** The spans as a tree under one root (the trace itself), each with depth and children. */
  function buildTree(detail) {
    const trace = detail.trace;
    const root = {
      id: trace ? trace.span_id : null,
      isTrace: true,
      record: trace,
      kind: 'trace',
      name: detail.summary.name || '(trace)',
      start: trace ? trace.start_time_unix_nano : null,
      end: trace ? trace.end_time_unix_nano : null,
      status: detail.summary.status,
      children: [],
    };
    const nodes = new Map();
    for (const span of detail.spans) {
      nodes.set(span.span_id, {
        id: span.span_id, record: span, kind: span.kind, name: span.name, start: span.start_time_unix_nano,
        end: span.end_time_unix_nano, status: span.status, children: [],
      });
    }
    for (const node of nodes.values()) {
      const parent = node.record.parent_span_id && nodes.get(node.record.parent_span_id);
      (parent && parent !== node ? parent : root).children.push(node);
    }
    const starts = [...nodes.values()].map((n) => n.start);
    const ends = [...nodes.values()].map((n) => n.end);
    if (root.start === null) root.start = starts.length ? Math.min(...starts) : 0;
    if (root.end === null) root.end = ends.length ? Math.max(...ends) : root.start;
    const order = (node, depth) => {
      node.depth = depth;
      node.children.sort((a, b) => a.start - b.start);
      node.children.forEach((child) => order(child, depth + 1));
    };
    order(root, 0);
    return { root, nodes };
  }

  function flatten(node, into = []) {
    into.push(node);
    if (!node.collapsed) node.children.forEach((child) => flatten(child, into));
    return into;
  }

  // ------------------------------------------------------------ page

  function renderTrace(detail, selectedId, onSelect) {
    const summary = detail.summary;
    const { root, nodes } = buildTree(detail);
    const page = h('section', { class: 'trace-page', id: 'trace-page', dataset: { traceId: summary.id } });
    page.append(
      h('div', { class: 'trace-head' },
        h('h1', null, h('span', { class: 'trace-name', text: summary.name || '(unnamed trace)' }), ' ', statusBadge(summary.status)),
        h('p', { class: 'meta' },
          meta('id', h('code', { text: summary.id })),
          meta('started', formatTime(summary.start)),
          meta('latency', formatDuration(summary.latency_ns)),
          meta('spans', formatCount(summary.spans) || '0'),
          summary.tokens ? meta('tokens', formatCount(summary.tokens)) : null,
          summary.cost ? meta('cost', formatCost(summary.cost)) : null,
          summary.user ? meta('user', h('a', { href: '#/?user=' + encodeURIComponent(summary.user), text: summary.user })) : null,
          summary.session ? meta('session', h('a', { href: '#/session/' + encodeURIComponent(summary.session), text: summary.session })) : null,
          summary.conversation ? meta('conversation', summary.conversation) : null)),
    );
    if (detail.omitted || detail.unreadable) {
      page.append(h('p', { class: 'warning' },
        detail.omitted ? `${formatCount(detail.omitted)} records of this trace are not shown (too many). ` : '',
        detail.unreadable ? `${formatCount(detail.unreadable)} records could not be read back from the files.` : ''));
    }
    const details = h('div', { class: 'panel span-details', id: 'span-details' });
    const waterfall = h('div', { class: 'panel waterfall-panel' });
    const select = (node) => {
      onSelect(node.id);
      for (const row of waterfall.querySelectorAll('.span-row')) row.classList.toggle('selected', row.dataset.spanId === String(node.id));
      clear(details).append(renderDetails(node, root));
    };
    const draw = () => clear(waterfall).append(renderWaterfall(root, select, draw));
    draw();
    page.append(waterfall);
    const chat = renderChat(detail, nodes, (spanId) => {
      const node = nodes.get(spanId) || root;
      select(node);
      const row = waterfall.querySelector(`.span-row[data-span-id="${CSS.escape(String(spanId))}"]`);
      if (row) row.scrollIntoView({ block: 'nearest' });
    });
    page.append(h('div', { class: 'columns' }, h('div', { class: 'panel chat-panel' }, h('h2', { text: 'Conversation' }), chat), details));
    page.append(renderFeedback(detail, nodes, root));
    select((selectedId && nodes.get(selectedId)) || root);
    return page;
  }

  function meta(label, value) {
    return h('span', { class: 'meta-item' }, h('span', { class: 'meta-label', text: label }), ' ', value);
  }

  // ------------------------------------------------------------ tree and waterfall

  function renderWaterfall(root, select, redraw) {
    const t0 = root.start;
    const total = Math.max(1, root.end - t0);
    const axis = h('div', { class: 'axis' });
    for (let i = 0; i <= 4; i++) {
      axis.append(h('span', { class: 'tick', style: { left: (i * 25) + '%' }, text: formatDuration((total * i) / 4) }));
    }
    const container = h('div', { class: 'waterfall', id: 'waterfall' },
      h('div', { class: 'waterfall-head' }, h('div', { class: 'tree-cell head', text: 'Span' }), h('div', { class: 'bar-cell head' }, axis)));
    for (const node of flatten(root)) {
      const left = Math.max(0, ((node.start - t0) / total) * 100);
      const width = Math.max(0.25, Math.min(100 - left, ((node.end - node.start) / total) * 100));
      const toggle = node.children.length
        ? h('button', {
          class: 'toggle', title: node.collapsed ? 'expand' : 'collapse', text: node.collapsed ? '▸' : '▾',
          onclick: (event) => { event.stopPropagation(); node.collapsed = !node.collapsed; redraw(); },
        })
        : h('span', { class: 'toggle-space' });
      const kindClass = node.isTrace ? 'trace' : (['llm', 'tool', 'task', 'retrieval', 'agent', 'span'].includes(node.kind) ? node.kind : 'custom');
      const row = h('div', {
        class: 'span-row' + (node.status === 'error' ? ' failed' : ''),
        dataset: { spanId: String(node.id), kind: node.kind },
        onclick: () => select(node),
      },
      h('div', { class: 'tree-cell', style: { paddingLeft: (node.depth * 16 + 4) + 'px' } },
        toggle, node.isTrace ? h('span', { class: 'kind kind-trace', text: 'trace' }) : kindBadge(node.kind), ' ',
        h('span', { class: 'span-name', text: node.name }),
        node.status === 'error' ? h('span', { class: 'error-mark', title: 'failed', text: ' ✕' }) : null),
      h('div', { class: 'bar-cell' },
        h('div', { class: 'bar kind-' + kindClass, style: { left: left + '%', width: width + '%' }, title: `${node.name}: ${formatDuration(node.end - node.start)}` }),
        left + width > 85
          ? h('span', { class: 'bar-label inside', style: { right: (100 - left - width) + '%' }, text: formatDuration(node.end - node.start) })
          : h('span', { class: 'bar-label', style: { left: (left + width) + '%' }, text: formatDuration(node.end - node.start) })));
      container.append(row);
    }
    return container;
  }

  // ------------------------------------------------------------ chat transcript

  function renderChat(detail, nodes, goToSpan) {
    const messages = [];
    const add = (message, spanId) => messages.push({ ...message, span_id: message.span_id || spanId });
    if (detail.trace) (detail.trace.messages || []).forEach((m) => add(m, detail.trace.span_id));
    for (const span of detail.spans) (span.messages || []).forEach((m) => add(m, span.span_id));
    detail.messages.forEach((m) => add(m, m.span_id));
    messages.sort((a, b) => (a.time_unix_nano || 0) - (b.time_unix_nano || 0));
    const list = h('div', { class: 'chat', id: 'chat' });
    if (!messages.length) {
      list.append(h('p', { class: 'muted', text: 'No messages were recorded in this trace.' }));
      return list;
    }
    const calls = new Map();
    const results = new Map();
    for (const message of messages) {
      for (const part of parts(message.content)) {
        if (part.type === 'tool_call') calls.set(part.id, message);
        if (part.type === 'tool_result') results.set(part.tool_call_id, message);
      }
      if (message.tool_call_id) results.set(message.tool_call_id, message);
    }
    const jump = (selector) => {
      const target = list.querySelector(selector);
      if (!target) return;
      target.scrollIntoView({ block: 'center' });
      target.classList.remove('flash');
      void target.offsetWidth;
      target.classList.add('flash');
    };
    const t0 = detail.summary.start;
    for (const message of messages) {
      const role = message.role || 'unknown';
      const span = nodes.get(message.span_id);
      const body = h('div', { class: 'message-body' });
      if (message.tool_call_id) {
        body.append(h('div', { class: 'tool-link' }, 'result of ',
          h('a', { class: 'call-link', href: '#/', onclick: (e) => { e.preventDefault(); jump(`[data-call-id="${CSS.escape(message.tool_call_id)}"]`); } },
            callName(calls.get(message.tool_call_id), message.tool_call_id))));
      }
      const content = message.content;
      if (typeof content === 'string') body.append(h('div', { class: 'text', text: content }));
      else for (const part of parts(content)) body.append(renderPart(part, calls, results, jump));
      list.append(h('div', {
        class: `message role-${/^[a-z_]+$/.test(role) ? role : 'other'}` + (message.is_internal ? ' internal' : ''),
        dataset: { role, resultOf: message.tool_call_id || null },
      },
      h('div', { class: 'message-head' },
        h('span', { class: 'role', text: role }),
        message.is_internal ? h('span', { class: 'internal-badge', title: 'not shown to the user', text: 'internal' }) : null,
        h('span', { class: 'muted', text: message.time_unix_nano ? ' +' + formatDuration(message.time_unix_nano - t0) : '' }),
        span ? h('a', { class: 'span-link', href: '#/', onclick: (e) => { e.preventDefault(); goToSpan(message.span_id); }, text: span.name }) : null),
      body));
    }
    return list;
  }

  function parts(content) {
    return Array.isArray(content) ? content.filter((p) => p && typeof p === 'object') : [];
  }

  function callName(message, id) {
    const part = message && parts(message.content).find((p) => p.type === 'tool_call' && p.id === id);
    return part ? `${part.name} (${id})` : id;
  }

  function renderPart(part, calls, results, jump) {
    switch (part.type) {
      case 'text':
        return h('div', { class: 'text', text: part.text });
      case 'image_url': {
        const source = safeImageSource(part.url);
        return source ? h('img', { class: 'chat-image', src: source, alt: 'image', referrerpolicy: 'no-referrer' })
          : h('div', { class: 'muted', text: 'image: ' + part.url });
      }
      case 'image_base64': {
        const source = safeImageSource(`data:${part.media_type};base64,${part.data}`);
        return source ? h('img', { class: 'chat-image', src: source, alt: 'image' })
          : h('div', { class: 'muted', text: `image (${part.media_type}) not shown` });
      }
      case 'audio':
        return h('div', { class: 'attachment', text: `audio (${part.media_type}, ${formatCount(Math.floor((part.data || '').length * 0.75))} bytes)` });
      case 'file':
        return h('div', { class: 'attachment', text: `file ${part.name || ''} ${part.media_type ? '(' + part.media_type + ')' : ''} ${part.url || ''}`.trim() });
      case 'tool_call': {
        const result = results.get(part.id);
        return h('div', { class: 'tool-call', dataset: { callId: part.id } },
          h('div', { class: 'tool-head' }, h('span', { class: 'kind kind-tool', text: 'tool call' }), ' ',
            h('strong', { text: part.name }), ' ', h('code', { class: 'muted', text: part.id }), ' ',
            result ? h('a', { class: 'result-link', href: '#/', onclick: (e) => { e.preventDefault(); jump(`[data-result-of="${CSS.escape(part.id)}"]`); }, text: '→ result' })
              : h('span', { class: 'muted', text: '(no result recorded)' })),
          jsonView(part.arguments, 1));
      }
      case 'tool_result':
        return h('div', { class: 'tool-result', dataset: { resultOf: part.tool_call_id } },
          h('div', { class: 'tool-head' }, 'result of ',
            h('a', { class: 'call-link', href: '#/', onclick: (e) => { e.preventDefault(); jump(`[data-call-id="${CSS.escape(part.tool_call_id)}"]`); } },
              callName(calls.get(part.tool_call_id), part.tool_call_id))),
          jsonView(part.content, 1));
      default:
        return jsonView(part, 1);
    }
  }

  // ------------------------------------------------------------ span details

  function renderDetails(node, root) {
    const record = node.record || {};
    const section = h('div', { class: 'details', dataset: { spanId: String(node.id) } });
    section.append(h('h2', null, node.isTrace ? h('span', { class: 'kind kind-trace', text: 'trace' }) : kindBadge(node.kind), ' ',
      h('span', { class: 'details-name', text: node.name }), ' ', statusBadge(node.status === 'open' ? 'open' : (record.status || node.status))));
    const rows = [];
    const row = (label, value) => { if (value !== null && value !== undefined && value !== '') rows.push(h('tr', null, h('th', { text: label }), h('td', null, value))); };
    row(node.isTrace ? 'root span id' : 'span id', node.id ? h('code', { text: node.id }) : null);
    if (!node.isTrace) row('parent', record.parent_span_id ? h('code', { text: record.parent_span_id }) : null);
    row('starts at', '+' + formatDuration(node.start - root.start));
    row('latency', formatDuration(node.end - node.start));
    row('model', record.model);
    row('provider', record.provider);
    const ttft = record.attributes && record.attributes['mv37.ttft_ms'];
    if (typeof ttft === 'number') row('time to first token', formatDuration(ttft * 1e6));
    if (node.isTrace && record) {
      row('environment', record.environment);
      row('release', record.release);
      row('service', record.service_name);
      row('external trace id', record.external_trace_id);
    }
    section.append(h('table', { class: 'fields' }, rows));
    if (record.error) {
      section.append(h('div', { class: 'error-box' },
        h('strong', { text: record.error.type || 'error' }), ': ', h('span', { class: 'error-message', text: record.error.message })));
    }
    if (record.usage) section.append(usageTable(record.usage));
    if (record.request) section.append(block('Request', jsonView(record.request, 2)));
    if (record.response) section.append(block('Response', jsonView(record.response, 2)));
    if (record.input !== undefined && record.input !== null) section.append(block('Input', jsonView(record.input, 2), 'input'));
    if (record.output !== undefined && record.output !== null) section.append(block('Output', jsonView(record.output, 2), 'output'));
    if (record.documents && record.documents.length) section.append(block('Documents', documentsView(record.documents)));
    if (record.attributes && Object.keys(record.attributes).length) section.append(block('Attributes', jsonView(record.attributes, 1)));
    if (node.isTrace && record.context) section.append(block('Context', jsonView(record.context, 1)));
    if (record.messages && record.messages.length) section.append(h('p', { class: 'muted', text: `${record.messages.length} message(s), shown in the conversation.` }));
    return section;
  }

  function block(title, content, name) {
    return h('div', { class: 'block' + (name ? ' block-' + name : '') }, h('h3', { text: title }), content);
  }

  function usageTable(usage) {
    const fields = [['input_tokens', 'input tokens'], ['output_tokens', 'output tokens'], ['cached_tokens', 'cached tokens'],
      ['cache_write_tokens', 'cache write tokens'], ['reasoning_tokens', 'reasoning tokens'], ['total_tokens', 'total tokens'],
      ['context_window_tokens', 'context window'], ['context_used_tokens', 'context used']];
    const rows = fields.filter(([key]) => usage[key] !== undefined && usage[key] !== null)
      .map(([key, label]) => h('tr', null, h('th', { text: label }), h('td', { class: 'num', text: formatCount(usage[key]) || '0' })));
    if (typeof usage.cost_usd === 'number') rows.push(h('tr', null, h('th', { text: 'cost' }), h('td', { class: 'num', text: formatCost(usage.cost_usd) || '$0' })));
    return block('Usage', h('table', { class: 'fields usage' }, rows), 'usage');
  }

  function documentsView(documents) {
    return h('ol', { class: 'documents' }, documents.map((document) => h('li', { class: 'document' },
      h('div', { class: 'document-head' },
        document.id ? h('code', { text: document.id }) : null,
        typeof document.score === 'number' ? h('span', { class: 'muted', text: ' score ' + document.score.toFixed(3) }) : null),
      document.content !== undefined ? jsonView(document.content, 1) : h('span', { class: 'muted', text: '(content not captured)' }),
      document.metadata ? jsonView(document.metadata, 0) : null)));
  }

  // ------------------------------------------------------------ JSON

  /** A collapsible view of a JSON value; levels below `open` start folded. */
  function jsonView(value, open, depth = 0) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const marker = markerView(value);
      if (marker) return marker;
    }
    if (value === null) return h('span', { class: 'json-null', text: 'null' });
    if (typeof value === 'string') return h('span', { class: 'json-string', text: value });
    if (typeof value !== 'object') return h('span', { class: 'json-' + typeof value, text: String(value) });
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    if (!entries.length) return h('span', { class: 'json-empty', text: Array.isArray(value) ? '[]' : '{}' });
    const list = h('div', { class: 'json-children' });
    for (const [key, child] of entries) {
      list.append(h('div', { class: 'json-entry' }, h('span', { class: 'json-key', text: key + ': ' }), jsonView(child, open, depth + 1)));
    }
    return h('details', { class: 'json', open: depth < open }, h('summary', { class: 'json-summary', text: summary }), list);
  }

  /** The markers mv37 writes in place of a value: truncation, serialization and depth limits. */
  function markerView(value) {
    if (value[TRUNCATED] === true) {
      return h('div', { class: 'marker truncated' },
        h('span', { class: 'marker-badge', text: `truncated — ${formatCount(value.original_bytes)} bytes originally` }),
        h('div', { class: 'preview', text: value.preview || '' }));
    }
    if (typeof value[SERIALIZATION_ERROR] === 'string') {
      return h('div', { class: 'marker' }, h('span', { class: 'marker-badge', text: 'serialization failed' }), ' ', value[SERIALIZATION_ERROR]);
    }
    if (typeof value[REDACTION_ERROR] === 'string') {
      return h('div', { class: 'marker' }, h('span', { class: 'marker-badge', text: 'redaction failed' }), ' ', value[REDACTION_ERROR]);
    }
    if (value[DEPTH_LIMIT] !== undefined && Object.keys(value).length === 1) {
      return h('span', { class: 'marker' }, h('span', { class: 'marker-badge', text: `nested deeper than ${value[DEPTH_LIMIT]} levels` }));
    }
    return null;
  }

  // ------------------------------------------------------------ feedback and signals

  function renderFeedback(detail, nodes, root) {
    const section = h('div', { class: 'panel feedback-panel', id: 'feedback' }, h('h2', { text: 'Feedback and signals' }));
    const rows = [];
    const spanName = (id) => (id && nodes.get(id) ? nodes.get(id).name : root.name);
    for (const feedback of detail.feedback) {
      rows.push(h('tr', { class: 'feedback-row' }, h('td', null, h('span', { class: 'kind kind-feedback', text: 'feedback' })),
        h('td', { text: feedback.name }), h('td', null, jsonView(feedback.value, 0)), h('td', { text: feedback.comment || '' }),
        h('td', { text: spanName(feedback.span_id) }), h('td', { class: 'time', text: formatTime(feedback.time_unix_nano) })));
    }
    for (const signal of detail.signals) {
      rows.push(h('tr', { class: 'signal-row' }, h('td', null, h('span', { class: 'kind kind-signal', text: 'signal' })),
        h('td', { text: signal.name }), h('td', null, jsonView(signal.value, 0)), h('td'),
        h('td', { text: spanName(signal.span_id) }), h('td', { class: 'time', text: formatTime(signal.time_unix_nano) })));
    }
    if (!rows.length) section.append(h('p', { class: 'muted', text: 'None recorded.' }));
    else section.append(h('table', { class: 'list' }, h('thead', null, h('tr', null, ['', 'name', 'value', 'comment', 'span', 'time'].map((t) => h('th', { text: t })))), h('tbody', null, rows)));
    return section;
  }
})();
