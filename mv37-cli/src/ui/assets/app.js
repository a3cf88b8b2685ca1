// mv37 ui: helpers, routing, live updates, the trace list and the sessions.
//
// Every piece of record text reaches the page as a text node or an attribute value set
// through the DOM (never through innerHTML), so markup inside payloads shows as text.
'use strict';

const MV37 = (window.MV37 = { views: {}, errors: [] });
window.addEventListener('error', (event) => MV37.errors.push(String(event.message)));
window.addEventListener('unhandledrejection', (event) => MV37.errors.push(String(event.reason)));

// ---------------------------------------------------------------- DOM helpers

/** An element with properties (`class`, `text`, `onclick`…) and children (nodes or text). */
function h(tag, props, ...children) {
  const element = document.createElement(tag);
  setProps(element, props);
  append(element, children);
  return element;
}

/** An SVG element, as `h` makes HTML ones. */
function svg(tag, props, ...children) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setProps(element, props);
  append(element, children);
  return element;
}

function setProps(element, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') element.setAttribute('class', value);
    else if (key === 'text') element.textContent = String(value);
    else if (key === 'style') Object.assign(element.style, value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'href') element.setAttribute('href', safeLink(value));
    else element.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Only links inside the app are made (`#/…`); anything else becomes a dead link. */
function safeLink(value) {
  const text = String(value);
  return text.startsWith('#/') ? text : '#/';
}

/** A URL an image may be loaded from: http(s), or inline data of a raster image type. */
function safeImageSource(value) {
  const text = String(value || '');
  if (/^https?:\/\//i.test(text)) return text;
  if (/^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$/.test(text)) return text;
  return null;
}

function clear(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
  return element;
}

// ---------------------------------------------------------------- formatting

const NUMBER = new Intl.NumberFormat('en-US');

function formatDuration(ns) {
  if (ns === null || ns === undefined) return '';
  if (ns <= 0) return '0';
  // Times are Unix nanoseconds in doubles: differences are off by up to 256 ns.
  const us = ns / 1e3;
  if (us < 999.5) return us.toFixed(us < 10 ? 1 : 0) + ' µs';
  const ms = ns / 1e6;
  if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0) + ' ms';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
  return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}

function formatTime(ns) {
  if (!ns) return '';
  const date = new Date(ns / 1e6);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function formatCost(cost) {
  if (!cost) return '';
  if (cost < 0.01) return '$' + cost.toFixed(5);
  return '$' + cost.toFixed(cost < 1 ? 4 : 2);
}

function formatCount(n) {
  return n ? NUMBER.format(n) : '';
}

function statusBadge(status) {
  return h('span', { class: 'status status-' + status, text: status });
}

function kindBadge(kind) {
  const known = ['llm', 'tool', 'task', 'retrieval', 'agent', 'span'].includes(kind) ? kind : 'custom';
  return h('span', { class: 'kind kind-' + known, text: kind });
}

// ---------------------------------------------------------------- data

async function api(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    const message = await response.text();
    const error = new Error(message || response.statusText);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

/** The query string of the hash (`#/?q=x&status=error`). */
function hashParams() {
  const hash = location.hash || '#/';
  const at = hash.indexOf('?');
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : '');
}

function setHashParams(path, params) {
  const clean = new URLSearchParams();
  for (const [key, value] of params) if (value !== '' && value !== null) clean.set(key, value);
  const query = clean.toString();
  location.hash = path + (query ? '?' + query : '');
}

// ---------------------------------------------------------------- live updates

MV37.progress = null;

function showProgress(progress) {
  const element = document.getElementById('progress');
  if (!element) return;
  const lines = progress.lines || {};
  const skipped = (lines.malformed || 0) + (lines.newer_schema || 0) + (lines.too_long || 0);
  const parts = [];
  if (!progress.ready) {
    const share = progress.bytes_total ? Math.floor((100 * progress.bytes_indexed) / progress.bytes_total) : 0;
    parts.push(`indexing ${share}%`);
  } else {
    parts.push('live');
  }
  parts.push(`${NUMBER.format(progress.traces)} traces`);
  parts.push(`${progress.files} file${progress.files === 1 ? '' : 's'}`);
  if (skipped) parts.push(`${NUMBER.format(skipped)} lines skipped`);
  element.textContent = parts.join(' · ');
  element.classList.toggle('busy', !progress.ready);
}

function listen() {
  const events = new EventSource('/api/events');
  events.addEventListener('progress', (event) => {
    const progress = JSON.parse(event.data);
    const previous = MV37.progress;
    MV37.progress = progress;
    showProgress(progress);
    if (previous && previous.generation !== progress.generation && MV37.current && MV37.current.onChange) {
      MV37.current.onChange(progress);
    }
  });
}

/** Calls `fn` at most once per `ms`, the last call winning. */
function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// ---------------------------------------------------------------- routing

function route() {
  const hash = location.hash || '#/';
  const path = hash.replace(/\?.*$/, '');
  const main = clear(document.getElementById('main'));
  MV37.current = null;
  let view;
  let match;
  if ((match = path.match(/^#\/trace\/([0-9a-fA-F]{1,32})$/))) view = () => MV37.views.trace(main, match[1]);
  else if ((match = path.match(/^#\/session\/(.+)$/))) view = () => MV37.views.session(main, decodeURIComponent(match[1]));
  else if (path === '#/sessions') view = () => MV37.views.sessions(main);
  else if (path === '#/stats') view = () => MV37.views.stats(main);
  else view = () => MV37.views.traces(main);
  for (const link of document.querySelectorAll('header nav a')) {
    const target = link.getAttribute('href');
    const active = target === '#/' ? path === '#/' || path === '#' || path.startsWith('#/trace') : path.startsWith(target.replace(/s$/, ''));
    link.classList.toggle('active', active);
  }
  Promise.resolve()
    .then(view)
    .catch((error) => {
      main.append(h('p', { class: 'error-box', text: 'Could not load this page: ' + error.message }));
    });
}

// ---------------------------------------------------------------- the trace list

const SORTABLE = { time: 'start', name: 'name', latency: 'latency', spans: 'spans', tokens: 'tokens', cost: 'cost' };

MV37.views.traces = async function (main) {
  const params = hashParams();
  const facets = await api('/api/facets');
  const form = filterForm(params, facets);
  const summary = h('p', { class: 'summary muted', id: 'list-summary' });
  const table = h('table', { class: 'list', id: 'traces' });
  const pager = h('div', { class: 'pager' });
  main.append(h('section', { class: 'list-page' }, form, summary, table, pager));

  const load = async () => {
    const query = new URLSearchParams(params);
    const page = await api('/api/traces?' + query.toString());
    renderTraceTable(table, page, params);
    renderPager(pager, page, params, '#/');
    const from = page.total ? page.offset + 1 : 0;
    const to = page.offset + page.traces.length;
    const indexing = MV37.progress && !MV37.progress.ready ? ' so far (still reading the files: the newest are read first)' : '';
    summary.textContent = `${NUMBER.format(from)}–${NUMBER.format(to)} of ${NUMBER.format(page.total)} traces${indexing}`;
  };
  await load();
  MV37.current = { onChange: debounce(() => load().catch(() => {}), 200) };
};

function filterForm(params, facets) {
  const input = (name, placeholder, type = 'text') =>
    h('input', { name, id: 'filter-' + name, type, placeholder, value: params.get(name) || '', autocomplete: 'off' });
  const select = (name, label, options) => {
    const element = h('select', { name, id: 'filter-' + name }, h('option', { value: '', text: label }));
    for (const option of options) {
      const [value, text] = Array.isArray(option) ? option : [option, option];
      element.append(h('option', { value, text, selected: params.get(name) === value }));
    }
    return element;
  };
  const names = facets.names.map(([name, count]) => [name, `${name} (${NUMBER.format(count)})`]);
  const form = h(
    'form',
    { class: 'filters', id: 'filters' },
    input('q', 'Search inputs, outputs, messages…', 'search'),
    select('name', 'Any name', names),
    input('user', 'User'),
    input('session', 'Session'),
    select('status', 'Any status', ['ok', 'error', 'cancelled', 'open']),
    select('kind', 'Any span kind', facets.kinds),
    h('button', { type: 'submit', text: 'Apply' }),
    h('a', { class: 'reset', href: '#/', text: 'Reset' }),
  );
  const submit = (event) => {
    if (event) event.preventDefault();
    const next = new URLSearchParams();
    for (const element of form.elements) if (element.name) next.set(element.name, element.value.trim());
    for (const key of ['sort', 'order']) if (params.get(key)) next.set(key, params.get(key));
    setHashParams('#/', next);
  };
  form.addEventListener('submit', submit);
  for (const element of form.querySelectorAll('select')) element.addEventListener('change', submit);
  return form;
}

function sortHeader(label, key, params) {
  const sort = SORTABLE[key];
  if (!sort) return h('th', { text: label });
  const current = params.get('sort') || 'start';
  const order = params.get('order') || 'desc';
  const active = current === sort;
  const next = new URLSearchParams(params);
  next.set('sort', sort);
  next.set('order', active && order === 'desc' ? 'asc' : 'desc');
  next.delete('offset');
  const arrow = active ? (order === 'desc' ? ' ▼' : ' ▲') : '';
  return h('th', { class: 'sortable' + (active ? ' sorted' : ''), onclick: () => setHashParams('#/', next) }, label + arrow);
}

function renderTraceTable(table, page, params) {
  clear(table);
  const headers = [['Time', 'time'], ['Name', 'name'], ['User'], ['Session'], ['Status'], ['Latency', 'latency'],
    ['Spans', 'spans'], ['Tokens', 'tokens'], ['Cost', 'cost']];
  table.append(h('thead', null, h('tr', null, headers.map(([label, key]) => sortHeader(label, key, params)))));
  const body = h('tbody');
  for (const trace of page.traces) {
    const open = () => (location.hash = '#/trace/' + trace.id);
    body.append(
      h('tr', { class: 'trace-row', dataset: { traceId: trace.id }, onclick: open },
        h('td', { class: 'time', text: formatTime(trace.start) }),
        h('td', { class: 'name' }, h('a', { href: '#/trace/' + trace.id, text: trace.name || '(unnamed)' }),
          h('span', { class: 'kinds' }, trace.kinds.map(kindDot))),
        h('td', { class: 'user', text: trace.user || '' }),
        h('td', { class: 'session', text: trace.session || '' }),
        h('td', null, statusBadge(trace.status), trace.failed_spans && trace.status !== 'error'
          ? h('span', { class: 'failed-spans', text: ` ${trace.failed_spans} failed` }) : null,
          trace.feedback ? h('span', { class: 'feedback-mark', title: 'feedback given', text: ' ★' }) : null),
        h('td', { class: 'num', text: formatDuration(trace.latency_ns) }),
        h('td', { class: 'num', text: formatCount(trace.spans) }),
        h('td', { class: 'num', text: formatCount(trace.tokens) }),
        h('td', { class: 'num', text: formatCost(trace.cost) })),
    );
  }
  if (!page.traces.length) body.append(h('tr', null, h('td', { colspan: 9, class: 'muted empty', text: 'No trace matches.' })));
  table.append(body);
}

function kindDot(kind) {
  return h('span', { class: 'dot kind-' + kind, title: kind });
}

function renderPager(pager, page, params, path) {
  clear(pager);
  const limit = Number(params.get('limit')) || 50;
  const go = (offset) => {
    const next = new URLSearchParams(params);
    next.set('offset', String(Math.max(0, offset)));
    setHashParams(path, next);
  };
  const previous = h('button', { id: 'page-previous', text: '← Newer', disabled: page.offset === 0, onclick: () => go(page.offset - limit) });
  const next = h('button', { id: 'page-next', text: 'Older →', disabled: page.offset + limit >= page.total, onclick: () => go(page.offset + limit) });
  pager.append(previous, next);
}

// ---------------------------------------------------------------- sessions

MV37.views.sessions = async function (main) {
  const params = hashParams();
  const search = h('input', { type: 'search', name: 'q', id: 'session-search', placeholder: 'Session or user contains…', value: params.get('q') || '' });
  const form = h('form', { class: 'filters' }, search, h('button', { type: 'submit', text: 'Find' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setHashParams('#/sessions', new URLSearchParams({ q: search.value.trim() }));
  });
  const summary = h('p', { class: 'summary muted' });
  const table = h('table', { class: 'list', id: 'sessions' });
  const pager = h('div', { class: 'pager' });
  main.append(h('section', null, h('h1', { text: 'Sessions' }), form, summary, table, pager));
  const load = async () => {
    const page = await api('/api/sessions?' + params.toString());
    clear(table);
    table.append(h('thead', null, h('tr', null, ['Session', 'User', 'Traces', 'Conversations', 'First', 'Last', 'Tokens', 'Cost', 'Errors']
      .map((label) => h('th', { text: label })))));
    const body = h('tbody');
    for (const session of page.sessions) {
      const link = '#/session/' + encodeURIComponent(session.session);
      body.append(h('tr', { class: 'session-row', onclick: () => (location.hash = link) },
        h('td', null, h('a', { href: link, text: session.session })),
        h('td', { text: session.user || '' }),
        h('td', { class: 'num', text: formatCount(session.traces) }),
        h('td', { class: 'num', text: formatCount(session.conversations) }),
        h('td', { class: 'time', text: formatTime(session.first) }),
        h('td', { class: 'time', text: formatTime(session.last) }),
        h('td', { class: 'num', text: formatCount(session.tokens) }),
        h('td', { class: 'num', text: formatCost(session.cost) }),
        h('td', { class: 'num', text: formatCount(session.errors) })));
    }
    if (!page.sessions.length) body.append(h('tr', null, h('td', { colspan: 9, class: 'muted empty', text: 'No session.' })));
    table.append(body);
    renderPager(pager, page, params, '#/sessions');
    summary.textContent = `${NUMBER.format(page.total)} sessions, the most recently active first`;
  };
  await load();
  MV37.current = { onChange: debounce(() => load().catch(() => {}), 300) };
};

MV37.views.session = async function (main, id) {
  const load = async () => {
    const detail = await api('/api/sessions/' + encodeURIComponent(id));
    const section = h('section', { class: 'session-page' },
      h('h1', null, 'Session ', h('code', { text: detail.session })),
      h('p', { class: 'muted' }, `${NUMBER.format(detail.total)} traces in ${detail.conversations.length} conversation(s), oldest first · `,
        h('a', { href: '#/?session=' + encodeURIComponent(detail.session), text: 'show in the trace list' })));
    for (const conversation of detail.conversations) {
      const list = h('ol', { class: 'conversation' });
      for (const trace of conversation.traces) {
        list.append(h('li', { class: 'conversation-trace' },
          h('span', { class: 'time', text: formatTime(trace.start) }), ' ',
          h('a', { href: '#/trace/' + trace.id, text: trace.name || '(unnamed)' }), ' ',
          statusBadge(trace.status), ' ',
          h('span', { class: 'muted', text: [formatDuration(trace.latency_ns), formatCount(trace.tokens) && formatCount(trace.tokens) + ' tokens', formatCost(trace.cost)].filter(Boolean).join(' · ') })));
      }
      section.append(h('h2', null, conversation.conversation ? ['Conversation ', h('code', { text: conversation.conversation })] : 'Without a conversation id'), list);
    }
    clear(main).append(section);
  };
  await load();
  MV37.current = { onChange: debounce(() => load().catch(() => {}), 300) };
};

// ---------------------------------------------------------------- start

Object.assign(MV37, { h, svg, clear, api, formatDuration, formatTime, formatCost, formatCount, statusBadge, kindBadge, safeImageSource, debounce, hashParams });

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  listen();
  route();
});
