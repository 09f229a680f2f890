/* newscounts dashboard: plain browser JavaScript, no build step, no third-party code.
 *
 * Reads only the read API (GET /publications, /publications/{name}/entities, /publications/{name}/windows).
 * All choices live in the URL query string (see docs/dashboard.md), so a view can be shared, restored on
 * load and walked with the back button. Auto refresh polls GET /publications and reloads a publication's
 * counts only when its article count or last write time changed, and redraws only what changed, so the
 * page does not flicker and the focused control keeps its focus.
 *
 * Every piece of text from the service (publication names, entity texts, error details) goes into the page
 * through textContent / attributes, never innerHTML.
 */
'use strict';

(() => {
  const DEFAULT_TOP = 20;
  const DEFAULT_REFRESH_SECONDS = 5;
  const MAX_COMPARED = 3;
  const MAX_BARS = 100;
  const HOUR = 3600e3;
  const DAY = 24 * HOUR;

  /* Range choices: `now` ends at the current time, `latest` at the end of the latest counted window. */
  const RANGES = {
    all: { text: 'all time' },
    'latest-24h': { text: 'the latest day of data', latest: DAY },
    'latest-7d': { text: 'the latest week of data', latest: 7 * DAY },
    'latest-30d': { text: 'the latest 30 days of data', latest: 30 * DAY },
    'latest-365d': { text: 'the latest year of data', latest: 365 * DAY },
    '1h': { text: 'the last hour', now: HOUR },
    '24h': { text: 'the last 24 hours', now: DAY },
    '7d': { text: 'the last 7 days', now: 7 * DAY },
    '30d': { text: 'the last 30 days', now: 30 * DAY },
    custom: {},
  };

  const $ = (id) => document.getElementById(id);
  const controls = {
    pickers: [$('publication-1'), $('publication-2'), $('publication-3')],
    compare: $('compare'),
    range: $('range'),
    from: $('from'),
    to: $('to'),
    label: $('label'),
    top: $('top'),
    autoRefresh: $('auto-refresh'),
    refreshNow: $('refresh-now'),
  };
  const LABELS = new Set([...controls.label.options].map((option) => option.value).filter(Boolean));
  const LABEL_NAMES = new Map(
    [...controls.label.options].filter((o) => o.value).map((o) => [o.value, o.textContent.split(': ')[1]]),
  );
  const TOPS = new Set([...controls.top.options].map((option) => Number(option.value)));

  /* ---------- state <-> URL ---------- */

  const isDate = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || '') && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));

  function readState(search) {
    const query = new URLSearchParams(search);
    const names = [];
    for (const raw of query.getAll('publication')) {
      const name = raw.replace(/\s+/g, ' ').trim();
      if (name && !names.includes(name) && names.length < MAX_COMPARED) names.push(name);
    }
    const range = Object.hasOwn(RANGES, query.get('range') || '') ? query.get('range') : 'all';
    const label = (query.get('label') || '').toUpperCase();
    const top = Number(query.get('top'));
    const refresh = Number(query.get('refresh') ?? DEFAULT_REFRESH_SECONDS);
    return {
      names,
      range,
      from: range === 'custom' && isDate(query.get('from')) ? query.get('from') : '',
      to: range === 'custom' && isDate(query.get('to')) ? query.get('to') : '',
      label: LABELS.has(label) ? label : '',
      top: TOPS.has(top) ? top : DEFAULT_TOP,
      refresh: Number.isInteger(refresh) && refresh >= 0 && refresh <= 3600 ? refresh : DEFAULT_REFRESH_SECONDS,
    };
  }

  function queryOf(choice) {
    const query = new URLSearchParams();
    for (const name of choice.names) query.append('publication', name);
    if (choice.range !== 'all') query.set('range', choice.range);
    if (choice.range === 'custom' && choice.from) query.set('from', choice.from);
    if (choice.range === 'custom' && choice.to) query.set('to', choice.to);
    if (choice.label) query.set('label', choice.label);
    if (choice.top !== DEFAULT_TOP) query.set('top', String(choice.top));
    if (choice.refresh !== DEFAULT_REFRESH_SECONDS) query.set('refresh', String(choice.refresh));
    const text = query.toString();
    return text ? `?${text}` : location.pathname;
  }

  /** Record the state in the URL: a new history entry for a user's choice, a replacement otherwise. */
  function saveState(push) {
    const target = queryOf(state);
    if (target === (location.search || location.pathname)) return;
    if (push) history.pushState(null, '', target);
    else history.replaceState(null, '', target);
  }

  let state = readState(location.search);

  /* ---------- talking to the read API ---------- */

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function describeDetail(detail) {
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item) => (item && typeof item === 'object'
          ? [item.field ?? (item.loc || []).slice(1).join('.'), item.problem ?? item.msg].filter(Boolean).join(': ')
          : String(item)))
        .join('; ');
    }
    return detail == null ? '' : JSON.stringify(detail);
  }

  function retryHint() {
    return state.refresh > 0 ? `Trying again every ${state.refresh} s.` : 'Press “Refresh now” to try again.';
  }

  async function getJSON(path, signal) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', signal });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, `Cannot reach the newscounts service at ${location.host} (${error.message}): `
        + `is it running? ${retryHint()}`);
    }
    if (response.ok) return response.json();
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = describeDetail(body.detail ?? body.errors ?? body) || detail;
    } catch {
      /* not JSON: keep the status text */
    }
    const status = response.status;
    if (status === 503) {
      throw new ApiError(status, `Cannot reach the counts store (503): ${detail}. ${retryHint()}`);
    }
    if (status === 404) throw new ApiError(status, `${detail.charAt(0).toUpperCase()}${detail.slice(1)} (404).`);
    if (status === 401) {
      throw new ApiError(status, `The read API asks for an API key (401): ${detail}. This page cannot send one; `
        + 'ask the operator to leave READ_REQUIRES_KEY off for the dashboard.');
    }
    if (status === 422) throw new ApiError(status, `The service rejected the request (422): ${detail}.`);
    throw new ApiError(status, `The service answered ${status}: ${detail}. ${retryHint()}`);
  }

  /** The name as one path segment: every reserved character encoded (`/` `?` `#` `%` ...). Browsers drop a
   * `.` or `..` segment even when encoded as `%2E`, so those two get a leading space, which the service trims. */
  const nameSegment = (name) => {
    const segment = encodeURIComponent(name);
    return segment === '.' || segment === '..' ? `%20${segment}` : segment;
  };

  const pubPath = (name, what, params) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== '') query.set(key, value);
    return `/publications/${nameSegment(name)}/${what}?${query}`;
  };

  /* ---------- time ranges ---------- */

  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const dayText = (ms) => new Date(ms).toISOString().slice(0, 10);
  const minuteText = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

  /** All-time windows of each publication (top entity only), kept while its counts do not change. */
  const allTimeWindows = new Map();

  async function windowsOfAllTime(name, dataKey, signal) {
    const cached = allTimeWindows.get(name);
    if (cached && cached.dataKey === dataKey) return cached.windows;
    const windows = await getJSON(pubPath(name, 'windows', { limit: 1 }), signal);
    allTimeWindows.set(name, { dataKey, windows });
    return windows;
  }

  /** The [start, end) in epoch ms the choices mean (null = open); `latest` ranges need the newest window. */
  async function resolveInterval(columns, signal) {
    const range = RANGES[state.range];
    if (range.now) {
      const end = Date.now();
      return { start: end - range.now, end };
    }
    if (range.latest) {
      let newest = null;
      for (const column of columns) {
        if (!column.summary) continue;
        const windows = await windowsOfAllTime(column.name, column.dataKey, signal);
        if (windows.length) newest = Math.max(newest ?? 0, Date.parse(windows[windows.length - 1].end));
      }
      return newest === null ? { start: null, end: null } : { start: newest - range.latest, end: newest };
    }
    if (state.range === 'custom') {
      return {
        start: state.from ? Date.parse(`${state.from}T00:00:00Z`) : null,
        end: state.to ? Date.parse(`${state.to}T00:00:00Z`) + DAY : null,
      };
    }
    return { start: null, end: null };
  }

  /** E.g. "all time", "2016-01-01 – 2016-12-31 UTC", "the last hour (2026-01-05 09:40 – 10:40 UTC)". */
  function describeInterval(interval) {
    const range = RANGES[state.range];
    if (interval.start === null && interval.end === null) return range.text && !range.latest ? range.text : 'all time';
    const showTime = range.now || (range.latest && range.latest <= DAY);
    const text = showTime ? minuteText : dayText;
    const endText = (ms) => (showTime ? minuteText(ms) : dayText(ms - 1));
    let dates = `${text(interval.start)} – ${endText(interval.end)} UTC`;
    if (interval.start === null) dates = `up to ${endText(interval.end)} UTC`;
    if (interval.end === null) dates = `from ${text(interval.start)} UTC`;
    return range.text ? `${range.text} (${dates})` : dates;
  }

  /* ---------- loading ---------- */

  let generation = 0;
  let inFlight = null;
  let timer = null;
  let lastViewKey = null;
  let lastRendered = null;
  let publicationsSeen = null;

  function scheduleRefresh() {
    clearTimeout(timer);
    timer = null;
    if (state.refresh > 0 && !document.hidden) timer = setTimeout(() => refresh(false), state.refresh * 1000);
  }

  /** One refresh: publications first, then the chosen publications' counts if anything changed. */
  async function refresh(userChange) {
    clearTimeout(timer);
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    const current = ++generation;
    const loadingTimer = userChange ? setTimeout(() => setLoading(true), 150) : null;
    try {
      const summaries = await getJSON('/publications', controller.signal);
      if (current !== generation) return;
      publicationsSeen = summaries;
      if (!summaries.length) {
        showNothingCounted();
        return;
      }
      if (!state.names.length) {
        state.names = [summaries[0].publication];
        saveState(false);
      }
      syncControls();
      const view = await loadView(summaries, controller.signal, userChange);
      if (current !== generation) return;
      if (view) render(view);
      showNotice('');
      $('checked').textContent = `Checked ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (error.name === 'AbortError' || current !== generation) return;
      showNotice(lastRendered ? `${error.message} The counts below are from the last successful update.` : error.message);
      if (!lastRendered) $('columns').replaceChildren(stateMessage('error', 'No counts to show yet.'));
    } finally {
      clearTimeout(loadingTimer);
      if (current === generation) {
        setLoading(false);
        /* What the page shows now matches this query string (tests and scripts wait for it). */
        $('results').dataset.view = queryOf(state);
        scheduleRefresh();
      }
    }
  }

  async function loadView(summaries, signal, userChange) {
    const byName = new Map(summaries.map((summary) => [summary.publication, summary]));
    const columns = state.names.map((name) => {
      const summary = byName.get(name) || null;
      return { name, summary, dataKey: summary ? `${summary.articles}|${summary.updated_at}` : 'unknown' };
    });
    const moving = RANGES[state.range].now ? Math.floor(Date.now() / 60e3) : 0;
    const viewKey = JSON.stringify([queryOf({ ...state, refresh: 0 }), columns.map((c) => c.dataKey), moving]);
    if (!userChange && viewKey === lastViewKey) return null;

    const interval = await resolveInterval(columns, signal);
    const start = interval.start === null ? null : iso(interval.start);
    const end = interval.end === null ? null : iso(interval.end);
    const loaded = await Promise.all(columns.map(async (column) => {
      try {
        const [entities, windows] = await Promise.all([
          getJSON(pubPath(column.name, 'entities', { limit: state.top, label: state.label, start, end }), signal),
          start === null && end === null
            ? windowsOfAllTime(column.name, column.dataKey, signal)
            : getJSON(pubPath(column.name, 'windows', { limit: 1, start, end }), signal),
        ]);
        const everything = entities.articles === 0 && column.summary
          ? await windowsOfAllTime(column.name, column.dataKey, signal)
          : null;
        return { ...column, entities, windows, everything };
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return { ...column, missing: error.message };
        throw error;
      }
    }));
    lastViewKey = viewKey;
    return { interval, columns: loaded };
  }

  function setLoading(on) {
    $('results').setAttribute('aria-busy', on ? 'true' : 'false');
    $('columns').classList.toggle('is-loading', on);
    if (on) $('status').textContent = 'Loading the counts…';
  }

  function showNotice(message) {
    const notice = $('notice');
    if (notice.textContent !== message) notice.textContent = message;
    notice.hidden = !message;
  }

  function showNothingCounted() {
    syncControls();
    lastViewKey = null;
    lastRendered = null;
    const message = stateMessage(
      'empty',
      'No articles counted yet - post some to /articles (see the API docs at /docs, or send them with '
        + 'kafka-console-producer). They show up here a few seconds after the consumers flush their counts; '
        + 'this page checks every few seconds.',
    );
    $('columns').replaceChildren(message);
    $('status').textContent = 'No articles counted yet.';
  }

  /* ---------- controls ---------- */

  function optionText(summary) {
    const count = summary.articles.toLocaleString('en-US');
    return `${summary.publication} (${count} article${summary.articles === 1 ? '' : 's'})`;
  }

  /** Update a picker's options in place: rebuilt only when the set of publications changed. */
  function syncPicker(select, summaries, selected, taken, optional) {
    const wanted = [];
    if (optional) wanted.push({ value: '', text: '— none —' });
    else if (!summaries.length && !selected) wanted.push({ value: '', text: 'No publications yet' });
    for (const summary of summaries) wanted.push({ value: summary.publication, text: optionText(summary) });
    if (selected && !summaries.some((s) => s.publication === selected)) {
      wanted.push({ value: selected, text: publicationsSeen ? `${selected} (no counts)` : selected });
    }
    const sameValues = select.options.length === wanted.length
      && wanted.every((item, index) => select.options[index].value === item.value);
    if (!sameValues) {
      select.replaceChildren(...wanted.map((item) => new Option(item.text, item.value)));
    }
    wanted.forEach((item, index) => {
      const option = select.options[index];
      if (option.text !== item.text) option.text = item.text;
      option.disabled = Boolean(item.value) && taken.includes(item.value) && item.value !== selected;
    });
    if (select.value !== (selected || '')) select.value = selected || '';
  }

  /** Set a control's value unless it already has it; a focused date field keeps what is being typed. */
  function setValue(control, value, force) {
    if (control.value === value) return;
    if (!force && control.type === 'date' && document.activeElement === control) return;
    control.value = value;
  }

  function syncControls(force = false) {
    const summaries = publicationsSeen || [];
    const comparing = state.names.length > 1;
    controls.pickers.forEach((select, slot) => {
      syncPicker(select, summaries, state.names[slot] || '', state.names, slot === 2);
    });
    controls.compare.checked = comparing;
    controls.compare.disabled = summaries.length < 2 && !comparing;
    for (const field of document.querySelectorAll('[data-compare]')) field.hidden = !comparing;
    setValue(controls.range, state.range);
    for (const field of document.querySelectorAll('[data-custom]')) field.hidden = state.range !== 'custom';
    setValue(controls.from, state.from, force);
    setValue(controls.to, state.to, force);
    setValue(controls.label, state.label);
    setValue(controls.top, String(state.top));
    controls.autoRefresh.checked = state.refresh > 0;
    $('refresh-seconds').textContent = String(state.refresh || DEFAULT_REFRESH_SECONDS);
    document.title = state.names.length ? `${state.names.join(' vs ')} · newscounts` : 'newscounts dashboard';
  }

  function rangeProblem() {
    if (state.range === 'custom' && state.from && state.to && state.from > state.to) {
      return '“From” must be on or before “To”.';
    }
    return '';
  }

  /** Apply a user's change: record it in the URL (a history entry) and load. */
  function choose(change) {
    state = { ...state, ...change };
    if (state.range !== 'custom') state = { ...state, from: '', to: '' };
    syncControls(true);
    const problem = rangeProblem();
    $('range-error').textContent = problem;
    controls.from.setAttribute('aria-invalid', problem ? 'true' : 'false');
    controls.to.setAttribute('aria-invalid', problem ? 'true' : 'false');
    if (problem) return;
    saveState(true);
    refresh(true);
  }

  function pickPublication(slot, value) {
    const names = [...state.names];
    if (value) names[slot] = value;
    else names.splice(slot, 1);
    choose({ names: names.filter((name, index) => name && names.indexOf(name) === index) });
  }

  function toggleCompare(on) {
    if (!on) {
      choose({ names: state.names.slice(0, 1) });
      return;
    }
    const other = (publicationsSeen || []).find((summary) => !state.names.includes(summary.publication));
    if (other) choose({ names: [...state.names.slice(0, 1), other.publication] });
    else syncControls();
  }

  /** Custom dates start out as the data's span, so the first custom view is not empty. */
  function chooseRange(range) {
    if (range !== 'custom' || (state.from && state.to)) {
      choose({ range });
      return;
    }
    const spans = state.names.map((name) => allTimeWindows.get(name)?.windows || []).filter((w) => w.length);
    const first = Math.min(...spans.map((w) => Date.parse(w[0].start)));
    const last = Math.max(...spans.map((w) => Date.parse(w[w.length - 1].end)));
    const today = Date.now();
    choose({
      range,
      from: state.from || dayText(spans.length ? first : today - 7 * DAY),
      to: state.to || dayText(spans.length ? last - 1 : today),
    });
  }

  controls.pickers.forEach((select, slot) => select.addEventListener('change', () => pickPublication(slot, select.value)));
  controls.compare.addEventListener('change', () => toggleCompare(controls.compare.checked));
  controls.range.addEventListener('change', () => chooseRange(controls.range.value));
  controls.from.addEventListener('change', () => choose({ from: isDate(controls.from.value) ? controls.from.value : '' }));
  controls.to.addEventListener('change', () => choose({ to: isDate(controls.to.value) ? controls.to.value : '' }));
  controls.label.addEventListener('change', () => choose({ label: controls.label.value }));
  controls.top.addEventListener('change', () => choose({ top: Number(controls.top.value) }));
  controls.autoRefresh.addEventListener('change', () => {
    state = { ...state, refresh: controls.autoRefresh.checked ? DEFAULT_REFRESH_SECONDS : 0 };
    saveState(true);
    scheduleRefresh();
  });
  controls.refreshNow.addEventListener('click', () => refresh(true));
  $('controls').addEventListener('submit', (event) => event.preventDefault());
  window.addEventListener('popstate', () => {
    state = readState(location.search);
    $('range-error').textContent = '';
    syncControls(true);
    refresh(true);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(timer);
    else refresh(false);
  });

  /* ---------- rendering ---------- */

  /** Create an element; attributes whose value is null/false are left out; children may be strings. */
  function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === false || value === undefined) continue;
      if (name === 'dataset') Object.assign(element.dataset, value);
      else if (name === 'style') element.style.cssText = value; // CSSOM: a style attribute breaks the CSP
      else element.setAttribute(name, value === true ? '' : String(value));
    }
    element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
    return element;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attributes = {}, ...children) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
    element.append(...children);
    return element;
  }

  const number = (value) => value.toLocaleString('en-US');
  const plural = (count, word) => `${number(count)} ${word}${count === 1 ? '' : 's'}`;

  function stateMessage(kind, text, ...actions) {
    return h('div', { class: `state ${kind}` }, h('p', {}, text), actions.length ? h('p', { class: 'actions' }, actions) : null);
  }

  function rangeButton(range, text) {
    const button = h('button', { type: 'button', dataset: { focusKey: `range-${range}` } }, text);
    button.addEventListener('click', () => chooseRange(range));
    return button;
  }

  /** Redraw only when the data or the choices changed; keep the focused element and open <details>. */
  function render(view) {
    const signature = JSON.stringify([view, queryOf({ ...state, refresh: 0 })]);
    if (signature === lastRendered) return;
    lastRendered = signature;

    const active = document.activeElement;
    const focusKey = $('columns').contains(active) ? active?.dataset?.focusKey : null;
    const open = new Set([...$('columns').querySelectorAll('details[open]')].map((d) => d.dataset.openKey));

    const scale = chartScale(view);
    const columns = view.columns.map((column, index) => renderColumn(column, index, view, scale, open));
    const container = $('columns');
    container.className = `columns count-${columns.length}`;
    container.replaceChildren(...columns);
    drawCharts();

    if (focusKey) container.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
    $('status').textContent = `Counts updated at ${new Date().toLocaleTimeString()}: `
      + view.columns.map((c) => `${c.name}, ${c.entities ? plural(c.entities.articles, 'article') : 'no counts'}`).join('; ')
      + ` in ${describeInterval(view.interval)}.`;
  }

  function renderColumn(column, index, view, scale, open) {
    const heading = h('h2', { id: `column-${index}-title` }, column.name);
    const panel = h('section', {
      class: `panel tone-${index}`,
      'aria-labelledby': `column-${index}-title`,
      dataset: { publication: column.name },
    }, heading);
    if (column.missing) {
      panel.append(stateMessage('error', `${column.missing} Pick a publication from the list.`));
      return panel;
    }
    const { entities, windows } = column;
    const total = column.summary ? column.summary.articles : 0;
    panel.append(h('p', { class: 'summary' },
      h('strong', { class: 'in-range' }, plural(entities.articles, 'article')),
      ` in ${describeInterval(view.interval)}`,
      state.range === 'all' ? '' : `; ${number(total)} all time`,
      column.summary?.updated_at
        ? h('span', { class: 'written' }, ` · updated ${minuteText(Date.parse(column.summary.updated_at))} UTC`)
        : null));

    if (entities.articles === 0) {
      panel.append(emptyRange(column, view.interval));
      return panel;
    }
    panel.append(h('div', { class: 'panel-body' },
      entityTable(column, index, scale), windowsChart(column, index, view, scale, open)));
    return panel;
  }

  function emptyRange(column, interval) {
    const all = column.everything || [];
    const span = all.length
      ? ` Its counted articles run from ${dayText(Date.parse(all[0].start))} to ${dayText(Date.parse(all[all.length - 1].end) - 1)} (UTC).`
      : '';
    const actions = [rangeButton('all', 'Show all time')];
    if (state.range !== 'latest-7d') actions.push(rangeButton('latest-7d', 'Show the latest week of data'));
    return stateMessage(
      'empty',
      `No articles of ${column.name} in ${describeInterval(interval)}.${span}`
        + (RANGES[state.range].now ? ' Ranges up to now are empty when the counted articles are older (the sample articles date from 2010 to 2020).' : ''),
      actions,
    );
  }

  function entityTable(column, index, scale) {
    const { entities } = column;
    const kind = state.label ? LABEL_NAMES.get(state.label) : 'entities';
    if (!entities.entities.length) {
      return stateMessage('empty', state.label
        ? `No ${state.label} entities (${kind}) in these ${plural(entities.articles, 'article')}.`
        : `No entities found in these ${plural(entities.articles, 'article')}.`,
      state.label ? labelButton() : null);
    }
    const rows = entities.entities.map((entity, rank) => {
      const share = Math.round((100 * entity.articles) / Math.max(1, entities.articles));
      const fraction = entity.mentions / scale.mentions;
      return h('tr', {
        title: `${entity.text} (${entity.label}): ${plural(entity.mentions, 'mention')} in ${number(entity.articles)} of ${plural(entities.articles, 'article')} (${share}%)`,
      },
      h('td', { class: 'rank' }, String(rank + 1)),
      h('th', { scope: 'row', class: 'entity' },
        h('span', { class: 'text' }, entity.text),
        state.label ? null : [' ', h('abbr', { class: 'kind', title: LABEL_NAMES.get(entity.label) || entity.label }, entity.label)]),
      h('td', { class: 'mentions' }, h('div', { class: 'meter' },
        h('span', { class: 'bar', style: `width: calc((100% - 3.6rem) * ${fraction.toFixed(4)})`, 'aria-hidden': 'true' }),
        h('span', { class: 'num' }, number(entity.mentions)))),
      h('td', { class: 'articles' },
        h('span', { class: 'num' }, number(entity.articles)), ' ',
        h('span', { class: 'share' }, `${share}%`)));
    });
    return h('div', { class: 'block' },
      h('h3', { id: `column-${index}-entities` }, `Top ${entities.entities.length} ${state.label ? `${state.label} ` : ''}entities`),
      h('table', { class: 'entities', 'aria-labelledby': `column-${index}-entities` },
        h('caption', {}, `Mentions: every occurrence. Articles: how many of the ${plural(entities.articles, 'article')} mention it.`
          + `${state.names.length > 1 ? ' One bar scale for all columns.' : ''}`),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', class: 'rank' }, h('span', { class: 'visually-hidden' }, 'Rank'), '#'),
          h('th', { scope: 'col' }, 'Entity'),
          h('th', { scope: 'col', class: 'mentions' }, 'Mentions'),
          h('th', { scope: 'col', class: 'articles' }, 'Articles'))),
        h('tbody', {}, rows)));
  }

  function labelButton() {
    const button = h('button', { type: 'button', dataset: { focusKey: 'all-labels' } }, 'Show all kinds');
    button.addEventListener('click', () => choose({ label: '' }));
    return button;
  }

  /* ---------- articles-per-window chart (SVG, drawn to the container's width) ---------- */

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function fixedBucket(size, name) {
    return {
      size,
      name,
      floor: (t) => Math.floor(t / size) * size,
      next: (t) => t + size,
      label: size >= DAY ? (t) => dayText(t) : (t) => minuteText(t),
    };
  }

  function calendarBucket(months, name, label) {
    return {
      size: months * 30.44 * DAY,
      name,
      floor: (t) => {
        const date = new Date(t);
        return Date.UTC(date.getUTCFullYear(), Math.floor(date.getUTCMonth() / months) * months, 1);
      },
      next: (t) => {
        const date = new Date(t);
        return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1);
      },
      label,
    };
  }

  const WEEK = {
    ...fixedBucket(7 * DAY, 'week'),
    floor: (t) => Math.floor((t - 4 * DAY) / (7 * DAY)) * 7 * DAY + 4 * DAY, /* weeks start on Monday */
    label: (t) => `week of ${dayText(t)}`,
  };

  const COARSER = [
    fixedBucket(60e3, 'minute'), fixedBucket(5 * 60e3, '5 minutes'), fixedBucket(15 * 60e3, '15 minutes'),
    fixedBucket(HOUR, 'hour'), fixedBucket(6 * HOUR, '6 hours'), fixedBucket(DAY, 'day'), WEEK,
    calendarBucket(1, 'month', (t) => `${MONTHS[new Date(t).getUTCMonth()]} ${new Date(t).getUTCFullYear()}`),
    calendarBucket(3, 'quarter', (t) => `Q${new Date(t).getUTCMonth() / 3 + 1} ${new Date(t).getUTCFullYear()}`),
    calendarBucket(12, 'year', (t) => String(new Date(t).getUTCFullYear())),
  ];

  const durationText = (ms) => (ms % DAY === 0 ? `${ms / DAY} d` : ms % HOUR === 0 ? `${ms / HOUR} h`
    : ms % 60e3 === 0 ? `${ms / 60e3} min` : `${ms / 1e3} s`);

  /** The bars: the windows themselves when they fit, else the smallest calendar unit that gives <= MAX_BARS. */
  function chooseBucket(spanStart, spanEnd, windowSize) {
    const native = { ...fixedBucket(windowSize, `${durationText(windowSize)} window`), native: true };
    const candidates = [native, ...COARSER.filter((bucket) => bucket.size > windowSize)];
    return candidates.find((bucket) => (spanEnd - spanStart) / bucket.size <= MAX_BARS) || candidates[candidates.length - 1];
  }

  /** One time axis and one vertical scale for every column, so compared charts line up. */
  function chartScale(view) {
    const loaded = view.columns.filter((column) => column.entities && column.entities.articles > 0);
    const mentions = Math.max(1, ...loaded.flatMap((c) => c.entities.entities.map((e) => e.mentions)));
    const windows = loaded.flatMap((column) => column.windows);
    if (!windows.length) return { mentions, bucket: null };
    const windowSize = Date.parse(windows[0].end) - Date.parse(windows[0].start);
    const spanStart = view.interval.start ?? Math.min(...windows.map((w) => Date.parse(w.start)));
    const spanEnd = view.interval.end ?? Math.max(...windows.map((w) => Date.parse(w.end)));
    const bucket = chooseBucket(spanStart, spanEnd, windowSize);
    const starts = [];
    for (let t = bucket.floor(spanStart); t < spanEnd && starts.length <= 2000; t = bucket.next(t)) starts.push(t);
    const series = new Map(loaded.map((column) => [column.name, bucketize(column.windows, bucket, starts)]));
    const peak = Math.max(1, ...[...series.values()].flatMap((bars) => bars.map((bar) => bar.articles)));
    return { mentions, bucket, series, peak, windowSize };
  }

  function bucketize(windows, bucket, starts) {
    const index = new Map(starts.map((start, i) => [start, i]));
    const bars = starts.map((start) => ({ start, end: bucket.next(start), articles: 0, top: null }));
    for (const window of windows) {
      const i = index.get(bucket.floor(Date.parse(window.start)));
      if (i === undefined) continue;
      bars[i].articles += window.articles;
      if (bucket.native) bars[i].top = window.entities[0] || null;
    }
    return bars;
  }

  function barTitle(bar, bucket) {
    const when = bucket.native ? `${minuteText(bar.start)} – ${minuteText(bar.end)} UTC` : bucket.label(bar.start);
    const top = bar.top ? `; most mentioned: ${bar.top.text} (${bar.top.label}, ${plural(bar.top.mentions, 'mention')})` : '';
    return `${when}: ${plural(bar.articles, 'article')}${top}`;
  }

  function windowsChart(column, index, view, scale, open) {
    const { bucket } = scale;
    const bars = scale.series.get(column.name);
    const title = `Articles per ${bucket.name}`;
    const note = bucket.native ? '' : ` (sums of the ${durationText(scale.windowSize)} windows)`;
    const busiest = bars.reduce((best, bar) => (bar.articles > best.articles ? bar : best), bars[0]);
    const figure = h('figure', { class: 'chart' });
    figure.chart = { bars, bucket, peak: scale.peak, tone: index, label: `${title}${note} for ${column.name}: `
      + `${plural(bars.length, 'bar')} from ${bucket.label(bars[0].start)} to ${bucket.label(bars[bars.length - 1].start)}; `
      + `busiest ${bucket.label(busiest.start)} with ${plural(busiest.articles, 'article')}.` };
    figure.append(h('div', { class: 'plot' }), h('figcaption', {}, `${title}${note}, ${describeInterval(view.interval)}.`
      + `${view.columns.length > 1 ? ' Same axes in every column.' : ''}`));
    const key = `windows-${column.name}`;
    const details = h('details', { dataset: { openKey: key }, open: open.has(key) },
      h('summary', { dataset: { focusKey: key } }, 'Chart data as a table'),
      h('table', { class: 'chart-data' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bucket.native ? 'Window (UTC)' : `${bucket.name[0].toUpperCase()}${bucket.name.slice(1)}`),
          h('th', { scope: 'col' }, 'Articles'))),
        h('tbody', {}, bars.filter((bar) => bar.articles > 0).map((bar) => h('tr', {},
          h('td', {}, bucket.native ? minuteText(bar.start) : bucket.label(bar.start)),
          h('td', { class: 'num' }, number(bar.articles)))))));
    return h('div', { class: 'block' }, h('h3', {}, title), figure, details);
  }

  function niceStep(peak) {
    const rough = peak / 3;
    const power = 10 ** Math.floor(Math.log10(Math.max(1, rough)));
    return Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough));
  }

  function drawChart(figure) {
    const { bars, bucket, peak, tone, label } = figure.chart;
    const plot = figure.querySelector('.plot');
    const width = Math.max(220, Math.floor(plot.clientWidth || 300));
    const height = Math.round(Math.min(220, Math.max(140, width * 0.3)));
    const left = 34;
    const right = 6;
    const top = 8;
    const bottom = 22;
    const step = niceStep(peak);
    const axisMax = Math.ceil(peak / step) * step;
    const y = (value) => top + (height - top - bottom) * (1 - value / axisMax);
    const band = (width - left - right) / bars.length;
    const gap = band > 4 ? Math.min(2, band * 0.2) : 0;
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: `tone-${tone}` });
    for (let value = 0; value <= axisMax; value += step) {
      svg.append(s('line', { class: 'grid', x1: left, x2: width - right, y1: y(value), y2: y(value) }),
        s('text', { class: 'tick', x: left - 4, y: y(value) + 4, 'text-anchor': 'end' }, number(value)));
    }
    bars.forEach((bar, i) => {
      if (!bar.articles) return;
      const barWidth = Math.min(48, Math.max(1, band - gap));
      const rect = s('rect', {
        class: 'bar', x: left + i * band + (band - barWidth) / 2, y: y(bar.articles), width: barWidth, height: y(0) - y(bar.articles),
      });
      rect.append(s('title', {}, barTitle(bar, bucket)));
      svg.append(rect);
    });
    const labels = [[0, 'start'], [bars.length - 1, 'end']];
    if (bars.length > 4 && width > 360) labels.push([Math.floor(bars.length / 2), 'middle']);
    const seen = new Set();
    for (const [i, anchor] of labels) {
      if (seen.has(i)) continue;
      seen.add(i);
      const x = anchor === 'start' ? left : anchor === 'end' ? width - right : left + (i + 0.5) * band;
      svg.append(s('text', { class: 'tick', x, y: height - 6, 'text-anchor': anchor }, bucket.label(bars[i].start)));
    }
    plot.replaceChildren(svg);
  }

  function drawCharts() {
    for (const figure of document.querySelectorAll('figure.chart')) drawChart(figure);
  }

  let resizeFrame = 0;
  let lastWidth = 0;
  new ResizeObserver(() => {
    const width = $('columns').clientWidth;
    if (width === lastWidth) return;
    lastWidth = width;
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(drawCharts);
  }).observe($('columns'));

  /* ---------- start ---------- */

  saveState(false);
  syncControls(true);
  refresh(true);
})();

/* The counting line: "counting: N articles behind, ~T to catch up" or "all counted", from GET /status (its
 * `summary`), every 5 s while the page is visible. Empty when the status cannot be read. */
(() => {
  const line = document.getElementById('counting');
  async function showCounting() {
    if (document.hidden) return;
    try {
      const response = await fetch('/status', { headers: { Accept: 'application/json' }, cache: 'no-store' });
      line.textContent = response.ok ? (await response.json()).summary : '';
    } catch {
      line.textContent = '';
    }
  }
  showCounting();
  setInterval(showCounting, 5000);
  document.addEventListener('visibilitychange', showCounting);
})();
