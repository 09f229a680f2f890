/* newscounts dashboard: plain browser JavaScript, no build step, no third-party code.
 *
 * Reads only the read API (GET /publications, /publications/{name}/entities, /windows and /series,
 * /entities, /entities/search). All choices live in the URL query string (see docs/dashboard.md), so a view
 * can be shared, restored on load and walked with the back button. An entity's trend (one line per
 * publication) shows above the publication columns once an entity is clicked in a table or found with the
 * search box; every table, and the series shown, can be downloaded as CSV (built in the page, no request).
 * Auto refresh polls GET /publications and reloads a publication's counts only when its article count or
 * last write time changed, and redraws only what changed, so the page does not flicker and the focused
 * control keeps its focus.
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
  const MAX_LINES = 6;
  const DEFAULT_LINES = 3;
  const MENTIONING_SHOWN = 20;
  const SEARCH_MATCHES = 8;
  const AUTO_POINTS = 120;
  const MAX_POINTS = 2000;
  /* Publications the pickers list (GET /publications?limit=, most articles first: one page, polled). */
  const PUBLICATIONS_LISTED = 100;
  const MORE_PUBLICATIONS = '\u0000more'; // no publication name holds a control character
  const MARKED_POINTS = 120;
  const HOUR = 3600e3;
  const DAY = 24 * HOUR;

  /* Steps of a trend, finest first, with their nominal length (to count a range's points). */
  const STEPS = [
    { name: 'hour', ms: HOUR }, { name: 'day', ms: DAY }, { name: 'week', ms: 7 * DAY },
    { name: 'month', ms: 30.44 * DAY }, { name: 'year', ms: 365.25 * DAY },
  ];
  const STEP_NAMES = new Set(STEPS.map((step) => step.name));
  const MEASURES = { share: 'Share of its articles', mentions: 'Mentions' };

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
    view: $('view'),
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
    const entityText = (query.get('entity') || '').replace(/\s+/g, ' ').trim();
    const entityLabel = (query.get('entity-label') || '').trim().toUpperCase();
    const lines = [];
    for (const raw of query.getAll('line')) {
      const name = raw.replace(/\s+/g, ' ').trim();
      if (name && !lines.includes(name) && lines.length < MAX_LINES) lines.push(name);
    }
    return {
      names,
      range,
      from: range === 'custom' && isDate(query.get('from')) ? query.get('from') : '',
      to: range === 'custom' && isDate(query.get('to')) ? query.get('to') : '',
      label: LABELS.has(label) ? label : '',
      view: query.get('view') === 'aliased' ? 'aliased' : 'raw',
      top: TOPS.has(top) ? top : DEFAULT_TOP,
      refresh: Number.isInteger(refresh) && refresh >= 0 && refresh <= 3600 ? refresh : DEFAULT_REFRESH_SECONDS,
      entity: entityText && /^[A-Z_]{1,64}$/.test(entityLabel) ? { text: entityText, label: entityLabel } : null,
      lines,
      measure: query.get('measure') === 'mentions' ? 'mentions' : 'share',
      step: STEP_NAMES.has(query.get('step')) ? query.get('step') : '',
    };
  }

  function queryOf(choice) {
    const query = new URLSearchParams();
    for (const name of choice.names) query.append('publication', name);
    if (choice.range !== 'all') query.set('range', choice.range);
    if (choice.range === 'custom' && choice.from) query.set('from', choice.from);
    if (choice.range === 'custom' && choice.to) query.set('to', choice.to);
    if (choice.label) query.set('label', choice.label);
    if (choice.view !== 'raw') query.set('view', choice.view);
    if (choice.top !== DEFAULT_TOP) query.set('top', String(choice.top));
    if (choice.refresh !== DEFAULT_REFRESH_SECONDS) query.set('refresh', String(choice.refresh));
    if (choice.entity) {
      query.set('entity', choice.entity.text);
      query.set('entity-label', choice.entity.label);
      for (const name of choice.lines) query.append('line', name);
      if (choice.measure !== 'share') query.set('measure', choice.measure);
      if (choice.step) query.set('step', choice.step);
    }
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

  /** The JSON answer of ``path``; ``onAnswer`` (optional) sees the response's headers first. */
  async function getJSON(path, signal, onAnswer) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', signal });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, `Cannot reach the newscounts service at ${location.host} (${error.message}): `
        + `is it running? ${retryHint()}`);
    }
    if (response.ok) {
      onAnswer?.(response);
      return response.json();
    }
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

  /** The one place every read's query string is made (null and '' left out), with the chosen view
   * (`view=aliased`: one row per entity, docs/aliases.md; the read API's default is raw). */
  const apiPath = (path, params) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== '') query.set(key, value);
    if (state.view === 'aliased') query.set('view', 'aliased');
    return `${path}?${query}`;
  };

  const pubPath = (name, what, params) => apiPath(`/publications/${nameSegment(name)}/${what}`, params);

  /* ---------- time ranges ---------- */

  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const isoOf = (ms) => (ms === null ? null : iso(ms));
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
  let lastView = null;
  let publicationsSeen = null;
  /** GET /publications had a next page: publications beyond the first PUBLICATIONS_LISTED exist. */
  let morePublications = false;
  let focusAfterRender = null;

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
      let more = false;
      const summaries = await getJSON(`/publications?limit=${PUBLICATIONS_LISTED}`, controller.signal, (response) => {
        more = response.headers.has('Next-Cursor');
      });
      if (current !== generation) return;
      publicationsSeen = summaries;
      morePublications = more;
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
    /* A trend may show any publication: then any publication's new counts make a new view. */
    const dataKeys = state.entity ? summaries.map((s) => `${s.publication}|${s.articles}|${s.updated_at}`) : [];
    const viewKey = JSON.stringify([
      queryOf({ ...state, refresh: 0, measure: 'share' }), columns.map((c) => c.dataKey), dataKeys, moving,
    ]);
    if (!userChange && viewKey === lastViewKey) return null;

    const interval = await resolveInterval(columns, signal);
    const start = isoOf(interval.start);
    const end = isoOf(interval.end);
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
    const windowed = loaded.find((column) => column.windows?.length);
    const windowSize = windowed ? Date.parse(windowed.windows[0].end) - Date.parse(windowed.windows[0].start) : null;
    const trend = state.entity ? await loadTrend(state.entity, interval, byName, windowSize, signal) : null;
    lastViewKey = viewKey;
    return { interval, columns: loaded, trend };
  }

  /* ---------- an entity's trend: one series per publication ---------- */

  /** The nominal number of points of `step` over [start, end) (ms), for choosing and offering steps. */
  const pointsOf = (span, step) => Math.ceil((span.end - span.start) / step.ms);

  /** Why `step` cannot be offered for `span`, or '' when it can. */
  function stepProblem(step, span, windowSize) {
    if (windowSize && step.ms < windowSize) return `finer than the ${durationText(windowSize)} windows`;
    if (span && pointsOf(span, step) > MAX_POINTS) return `over ${number(MAX_POINTS)} points`;
    return '';
  }

  /** The finest step that gives at most AUTO_POINTS points over the span (a year when none does). */
  function autoStep(span, windowSize) {
    if (!span) return 'month';
    const usable = STEPS.filter((step) => !stepProblem(step, span, windowSize));
    return (usable.find((step) => pointsOf(span, step) <= AUTO_POINTS) || STEPS[STEPS.length - 1]).name;
  }

  /** One range for every line: the chosen one, its open sides filled with the shown publications' span. */
  function trendSpan(interval, names, byName) {
    const known = names.map((name) => byName.get(name)).filter((summary) => summary?.start && summary?.end);
    const start = interval.start ?? (known.length ? Math.min(...known.map((s) => Date.parse(s.start))) : null);
    const end = interval.end ?? (known.length ? Math.max(...known.map((s) => Date.parse(s.end))) : null);
    return start === null || end === null || start >= end ? null : { start, end };
  }

  async function loadTrend(entity, interval, byName, windowSize, signal) {
    const { text, label } = entity;
    const mentioning = await getJSON(apiPath('/entities', {
      text, label, limit: MENTIONING_SHOWN, start: isoOf(interval.start), end: isoOf(interval.end),
    }), signal);
    const names = state.lines.length ? state.lines
      : mentioning.publications.slice(0, DEFAULT_LINES).map((found) => found.publication);
    const span = trendSpan(interval, names, byName);
    const step = state.step || autoStep(span, windowSize);
    const series = await Promise.all(names.map(async (name) => {
      const params = { text, label, step, start: span && iso(span.start), end: span && iso(span.end) };
      try {
        return { name, answer: await getJSON(pubPath(name, 'series', params), signal) };
      } catch (error) {
        if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
          return { name, problem: error.message };
        }
        throw error;
      }
    }));
    return { text, label, mentioning, names, span, step, windowSize, series };
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
    lastView = null;
    $('trend').hidden = true;
    $('trend').replaceChildren();
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
      const unknown = publicationsSeen && !morePublications;
      wanted.push({ value: selected, text: unknown ? `${selected} (no counts)` : selected });
    }
    if (morePublications) {
      wanted.push({
        value: MORE_PUBLICATIONS,
        text: `(the ${PUBLICATIONS_LISTED} with most articles; open another with ?publication=NAME)`,
        disabled: true,
      });
    }
    const sameValues = select.options.length === wanted.length
      && wanted.every((item, index) => select.options[index].value === item.value);
    if (!sameValues) {
      select.replaceChildren(...wanted.map((item) => new Option(item.text, item.value)));
    }
    wanted.forEach((item, index) => {
      const option = select.options[index];
      if (option.text !== item.text) option.text = item.text;
      option.disabled = Boolean(item.disabled)
        || (Boolean(item.value) && taken.includes(item.value) && item.value !== selected);
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
    setValue(controls.view, state.view);
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

  /** Show the trend of an entity, with the default lines and step, and move the focus to it. */
  function chooseEntity(text, label) {
    focusAfterRender = 'trend-title';
    choose({ entity: { text, label }, lines: [], step: '' });
  }

  function closeTrend() {
    focusAfterRender = 'entity-search';
    choose({ entity: null, lines: [], step: '' });
  }

  /** Show or hide one publication's line: the lines shown become the user's choice (kept in the URL). */
  function toggleLine(name, on, shown) {
    choose({ lines: on ? [...shown, name].slice(0, MAX_LINES) : shown.filter((line) => line !== name) });
  }

  /** Share or mentions: the same series drawn again, nothing fetched. */
  function chooseMeasure(measure) {
    state = { ...state, measure };
    saveState(true);
    if (lastView) render(lastView);
    $('results').dataset.view = queryOf(state);
  }

  controls.pickers.forEach((select, slot) => select.addEventListener('change', () => pickPublication(slot, select.value)));
  controls.compare.addEventListener('change', () => toggleCompare(controls.compare.checked));
  controls.range.addEventListener('change', () => chooseRange(controls.range.value));
  controls.from.addEventListener('change', () => choose({ from: isDate(controls.from.value) ? controls.from.value : '' }));
  controls.to.addEventListener('change', () => choose({ to: isDate(controls.to.value) ? controls.to.value : '' }));
  controls.label.addEventListener('change', () => choose({ label: controls.label.value }));
  controls.view.addEventListener('change', () => choose({ view: controls.view.value === 'aliased' ? 'aliased' : 'raw' }));
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
    lastView = view;

    const results = $('results');
    const active = document.activeElement;
    const focusKey = results.contains(active) ? active?.dataset?.focusKey : null;
    const open = new Set([...results.querySelectorAll('details[open]')].map((d) => d.dataset.openKey));

    const scale = chartScale(view);
    renderTrend(view, open);
    const columns = view.columns.map((column, index) => renderColumn(column, index, view, scale, open));
    const container = $('columns');
    container.className = `columns count-${columns.length}`;
    container.replaceChildren(...columns);
    drawCharts();

    if (focusAfterRender) {
      $(focusAfterRender)?.focus();
      focusAfterRender = null;
    } else if (focusKey) {
      results.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
    }
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
    if (entities.undated_articles) panel.append(undatedNote(entities.undated_articles, entities.articles));

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
      const trended = state.entity?.label === entity.label
        && state.entity.text.toLowerCase() === entity.text.toLowerCase();
      const link = h('button', {
        type: 'button',
        class: 'entity-link',
        'aria-current': trended ? 'true' : null,
        dataset: { focusKey: `entity-${index}-${entity.label}-${entity.text}` },
      }, h('span', { class: 'text' }, entity.text), h('span', { class: 'visually-hidden' }, ': show its trend'));
      link.addEventListener('click', () => chooseEntity(entity.text, entity.label));
      return h('tr', {
        class: trended ? 'current' : null,
        title: `${entity.text} (${entity.label}): ${plural(entity.mentions, 'mention')} in ${number(entity.articles)} of ${plural(entities.articles, 'article')} (${share}%). Click to see its trend.`,
      },
      h('td', { class: 'rank' }, String(rank + 1)),
      h('th', { scope: 'row', class: 'entity' },
        link,
        state.label ? null : [' ', h('abbr', { class: 'kind', title: LABEL_NAMES.get(entity.label) || entity.label }, entity.label)],
        mergedForms(entity)),
      h('td', { class: 'mentions' }, h('div', { class: 'meter' },
        h('span', { class: 'bar', style: `width: calc((100% - 3.6rem) * ${fraction.toFixed(4)})`, 'aria-hidden': 'true' }),
        h('span', { class: 'num' }, number(entity.mentions)))),
      h('td', { class: 'articles' },
        h('span', { class: 'num' }, number(entity.articles)), ' ',
        h('span', { class: 'share' }, `${share}%`)));
    });
    const csv = csvButton(`the top entities of ${column.name}`, `entities-${index}`, () => ({
      name: fileName('entities', column.name, rangeName(entities.start, entities.end), state.label),
      text: csvText(
        ['publication', 'start', 'end', 'rank', 'entity', 'label', 'mentions', 'articles', 'articles_in_range'],
        entities.entities.map((entity, rank) => [column.name, entities.start, entities.end, rank + 1, entity.text,
          entity.label, entity.mentions, entity.articles, entities.articles]),
      ),
    }));
    return h('div', { class: 'block' },
      h('div', { class: 'block-head' },
        h('h3', { id: `column-${index}-entities` }, `Top ${entities.entities.length} ${state.label ? `${state.label} ` : ''}entities`),
        csv),
      h('table', { class: 'entities', 'aria-labelledby': `column-${index}-entities` },
        h('caption', {}, `Mentions: every occurrence. Articles: how many of the ${plural(entities.articles, 'article')} mention it.`
          + `${state.names.length > 1 ? ' One bar scale for all columns.' : ''} Click an entity to see its trend.`),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', class: 'rank' }, h('span', { class: 'visually-hidden' }, 'Rank'), '#'),
          h('th', { scope: 'col' }, 'Entity'),
          h('th', { scope: 'col', class: 'mentions' }, 'Mentions'),
          h('th', { scope: 'col', class: 'articles' }, 'Articles'))),
        h('tbody', {}, rows)));
  }

  /** Under an aliased row that merged other spellings: each raw row it holds, with its mentions. */
  function mergedForms(entity) {
    const forms = entity.merged || [];
    if (!forms.length || (forms.length === 1 && forms[0].text === entity.text && forms[0].label === entity.label)) {
      return null;
    }
    const parts = forms.map((form) => `${form.text} (${form.label}, ${number(form.mentions)})`);
    return h('span', { class: 'merged' }, `= ${parts.join(' + ')}`);
  }

  function labelButton() {
    const button = h('button', { type: 'button', dataset: { focusKey: 'all-labels' } }, 'Show all kinds');
    button.addEventListener('click', () => choose({ label: '' }));
    return button;
  }

  function undatedNote(undated, articles, where = '') {
    return h('p', { class: 'note undated', role: 'note' },
      `${where}${number(undated)} of ${plural(articles, 'article')} had no date; they are counted at the time Kafka received them.`);
  }

  /* ---------- CSV downloads (RFC 4180, made in the page) ---------- */

  /** One field: a number as it is; text quoted when it holds a comma, a quote or a line break (quotes
   * doubled), led by an apostrophe when it starts like a spreadsheet formula (= + - @, tab, carriage return),
   * so that opening the file never runs a name as a formula. */
  function csvField(value) {
    if (value === null || value === undefined) return '';
    if (typeof value === 'number') return String(value);
    const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  }

  /** A CSV file: the header and the rows, each line ended by CRLF. */
  const csvText = (header, rows) => [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');

  /** A file name from its parts (empty ones left out): letters, digits, `.` `_` kept, any other run `-`. */
  const fileName = (...parts) => `${parts.filter(Boolean).join('-').replace(/[^\p{L}\p{N}._]+/gu, '-')
    .replace(/^-+|-+$/g, '')}.csv`;

  /** `all-time`, or the covered range's first and end day (ISO strings, null: open). */
  const rangeName = (start, end) => (start || end
    ? `${start ? start.slice(0, 10) : 'start'}_${end ? end.slice(0, 10) : 'now'}` : 'all-time');

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    const link = h('a', { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60e3);
  }

  /** A "Download CSV" button; `make` gives the file's name and text when it is pressed. */
  function csvButton(what, key, make) {
    const button = h('button', {
      type: 'button', class: 'csv', 'aria-label': `Download CSV of ${what}`, dataset: { focusKey: `csv-${key}` },
    }, 'Download CSV');
    button.addEventListener('click', () => {
      const file = make();
      download(file.name, file.text);
    });
    return button;
  }

  /* ---------- the trend of an entity (SVG lines, drawn to the container's width) ---------- */

  const capital = (text) => `${text[0].toUpperCase()}${text.slice(1)}`;
  const percent = (fraction) => `${(100 * fraction).toFixed(1)}%`;

  const PERIODS = {
    hour: (t) => minuteText(t),
    day: (t) => dayText(t),
    week: (t) => `week of ${dayText(t)}`,
    month: (t) => `${MONTHS[new Date(t).getUTCMonth()]} ${new Date(t).getUTCFullYear()}`,
    year: (t) => String(new Date(t).getUTCFullYear()),
  };

  /** A point's value on the chart: the share of its articles that mention the entity (null without
   * articles), or its mentions. */
  const pointValue = (point, measure) => {
    if (measure === 'mentions') return point.mentions;
    return point.articles ? point.entity_articles / point.articles : null;
  };

  function pointText(point, measure) {
    if (measure === 'mentions') return number(point.mentions);
    if (!point.articles) return 'no articles';
    return `${percent(point.entity_articles / point.articles)} (${number(point.entity_articles)} of ${number(point.articles)})`;
  }

  const sumOf = (points, field) => points.reduce((total, point) => total + point[field], 0);

  function renderTrend(view, open) {
    const section = $('trend');
    const { trend } = view;
    section.hidden = !trend;
    if (!trend) {
      section.replaceChildren();
      return;
    }
    const close = h('button', {
      type: 'button', class: 'close', 'aria-label': 'Close the trend', dataset: { focusKey: 'trend-close' },
    }, '×');
    close.addEventListener('click', closeTrend);
    const heading = h('div', { class: 'trend-head' },
      h('h2', { id: 'trend-title', tabindex: '-1' }, 'Trend of ', h('span', { class: 'entity-name' }, trend.text), ' ',
        h('abbr', { class: 'kind', title: LABEL_NAMES.get(trend.label) || trend.label }, trend.label)),
      close);
    if (!trend.names.length) {
      const everything = state.range === 'all';
      section.replaceChildren(heading, stateMessage('empty',
        `No publication mentions ${trend.text} (${trend.label}) in ${describeInterval(view.interval)}.`
          + (everything ? ' Search for another entity, or click one in a table.' : ''),
        everything ? null : rangeButton('all', 'Show all time')));
      return;
    }
    const lines = trend.series.filter((line) => line.answer);
    const what = state.measure === 'share' ? 'Share of each publication\'s articles that mention it' : 'Mentions';
    const summary = h('p', { class: 'summary' }, `${what}, per ${trend.step}, ${describeInterval(view.interval)}.`);
    const undated = lines.reduce((total, line) => total + sumOf(line.answer.points, 'undated_articles'), 0);
    const articles = lines.reduce((total, line) => total + sumOf(line.answer.points, 'articles'), 0);
    section.replaceChildren(heading, summary,
      h('div', { class: 'trend-body' },
        h('div', { class: 'block' },
          trendOptions(trend, lines),
          lines.length ? trendChart(trend, lines) : null,
          trendProblems(trend.series),
          undated ? undatedNote(undated, articles, 'In this chart, ') : null,
          lines.length ? trendTable(trend, lines, open) : null),
        h('div', { class: 'block' }, trendChooser(trend))));
  }

  /** One message per problem: the same one for several lines is said once, naming them unless it is every line. */
  function trendProblems(series) {
    const byProblem = new Map();
    for (const line of series.filter((one) => one.problem)) {
      byProblem.set(line.problem, [...(byProblem.get(line.problem) || []), line.name]);
    }
    return [...byProblem].map(([problem, names]) => stateMessage('error', names.length === series.length
      ? problem : `${names.map((name) => `“${name}”`).join(', ')}: ${problem}`));
  }

  function trendOptions(trend, lines) {
    const measures = h('fieldset', { class: 'measure' }, h('legend', {}, 'Show'),
      Object.entries(MEASURES).map(([value, text]) => {
        const input = h('input', {
          type: 'radio', name: 'trend-measure', id: `trend-measure-${value}`, value,
          checked: state.measure === value, dataset: { focusKey: `measure-${value}` },
        });
        input.addEventListener('change', () => chooseMeasure(value));
        return h('span', { class: 'choice' }, input, h('label', { for: input.id }, text));
      }));
    const auto = state.step ? autoStep(trend.span, trend.windowSize) : trend.step;
    const step = h('select', { id: 'trend-step', dataset: { focusKey: 'trend-step' } },
      h('option', { value: '' }, `Auto (${auto})`),
      STEPS.map((choice) => {
        const problem = stepProblem(choice, trend.span, trend.windowSize);
        return h('option', { value: choice.name, disabled: Boolean(problem) },
          problem ? `${capital(choice.name)} (${problem})` : capital(choice.name));
      }));
    step.value = state.step;
    step.addEventListener('change', () => choose({ step: step.value }));
    const csv = csvButton(`the series of ${trend.text} shown`, 'series', () => ({
      name: fileName('trend', trend.text, trend.label, trend.step),
      text: csvText(
        ['entity', 'label', 'publication', 'step', 'start', 'end', 'articles', 'undated_articles', 'mentions', 'entity_articles'],
        lines.flatMap((line) => line.answer.points.map((point) => [trend.text, trend.label, line.name, trend.step,
          point.start, point.end, point.articles, point.undated_articles, point.mentions, point.entity_articles])),
      ),
    }));
    return h('div', { class: 'trend-options' }, measures,
      h('div', { class: 'field' }, h('label', { for: 'trend-step' }, 'Step'), step), csv);
  }

  function trendChart(trend, lines) {
    const figure = h('figure', { class: 'trend-chart' });
    const drawn = lines.map((line) => ({
      name: line.name,
      tone: trend.names.indexOf(line.name),
      points: line.answer.points.map((point) => ({ ...point, at: Date.parse(point.start) })),
    }));
    const what = state.measure === 'share' ? 'share of its articles mentioning' : 'mentions of';
    figure.trend = {
      lines: drawn,
      measure: state.measure,
      step: trend.step,
      label: `Lines of the ${what} ${trend.text} (${trend.label}) per ${trend.step}: `
        + drawn.map((line) => `${line.name}, ${legendText(line.points)}`).join('; '),
    };
    figure.append(h('div', { class: 'plot' }), h('figcaption', {},
      h('ul', { class: 'legend' }, drawn.map((line) => h('li', { class: `tone-${line.tone}` },
        h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', { class: 'name' }, line.name), ' ',
        h('span', { class: 'total' }, legendText(line.points)))))));
    return figure;
  }

  /** A line's total over the chart: "12.5% of 40 articles" or "15 mentions". */
  function legendText(points) {
    const total = { articles: sumOf(points, 'articles'), mentions: sumOf(points, 'mentions'), entity_articles: sumOf(points, 'entity_articles') };
    if (state.measure === 'mentions') return plural(total.mentions, 'mention');
    return total.articles ? `${percent(total.entity_articles / total.articles)} of ${plural(total.articles, 'article')}` : 'no articles';
  }

  function trendTable(trend, lines, open) {
    const starts = [...new Set(lines.flatMap((line) => line.answer.points.map((point) => point.start)))].sort();
    const byStart = lines.map((line) => new Map(line.answer.points.map((point) => [point.start, point])));
    const key = 'trend-data';
    return h('details', { dataset: { openKey: key }, open: open.has(key) },
      h('summary', { dataset: { focusKey: key } }, 'Chart data as a table'),
      h('div', { class: 'scroll' }, h('table', { class: 'chart-data trend-data' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, capital(trend.step)),
          lines.map((line) => h('th', { scope: 'col' }, line.name)))),
        h('tbody', {}, starts.map((start) => h('tr', {},
          h('th', { scope: 'row' }, PERIODS[trend.step](Date.parse(start))),
          byStart.map((points) => h('td', { class: 'num' },
            points.has(start) ? pointText(points.get(start), state.measure) : '')))))),
    ));
  }

  function trendChooser(trend) {
    const { mentioning } = trend;
    const rows = [...mentioning.publications];
    for (const name of trend.names) {
      if (!rows.some((row) => row.publication === name)) {
        rows.push({ publication: name, mentions: 0, articles: 0, publication_articles: null });
      }
    }
    const full = trend.names.length >= MAX_LINES;
    const body = rows.map((row, index) => {
      const shown = trend.names.includes(row.publication);
      const box = h('input', {
        type: 'checkbox', id: `line-${index}`, checked: shown,
        disabled: shown ? trend.names.length === 1 : full,
        dataset: { focusKey: `line-${row.publication}` },
      });
      box.addEventListener('change', () => toggleLine(row.publication, box.checked, trend.names));
      const tone = trend.names.indexOf(row.publication);
      return h('tr', { class: shown ? `tone-${tone}` : null },
        h('td', { class: 'shown' }, box, shown ? h('span', { class: 'swatch', 'aria-hidden': 'true' }) : null),
        h('th', { scope: 'row' }, h('label', { for: box.id }, row.publication)),
        h('td', { class: 'num' }, number(row.mentions)),
        h('td', { class: 'num' }, number(row.articles)),
        h('td', { class: 'num' }, row.publication_articles === null ? '' : number(row.publication_articles)));
    });
    const csv = csvButton(`the publications that mention ${trend.text}`, 'mentioning', () => ({
      name: fileName('publications', trend.text, trend.label, rangeName(mentioning.start, mentioning.end)),
      text: csvText(
        ['entity', 'label', 'publication', 'start', 'end', 'mentions', 'articles', 'publication_articles'],
        mentioning.publications.map((row) => [trend.text, trend.label, row.publication, mentioning.start,
          mentioning.end, row.mentions, row.articles, row.publication_articles]),
      ),
    }));
    return [
      h('div', { class: 'block-head' }, h('h3', { id: 'trend-publications' }, 'Publications that mention it'), csv),
      h('div', { class: 'scroll' }, h('table', { class: 'mentioning', 'aria-labelledby': 'trend-publications' },
        h('caption', {}, `Tick the publications to draw (up to ${MAX_LINES}); at first, the ${DEFAULT_LINES} that mention it most. `
          + 'Articles: those that mention it; of all: every article of the publication in the range.'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Shown'), h('th', { scope: 'col' }, 'Publication'), h('th', { scope: 'col' }, 'Mentions'),
          h('th', { scope: 'col' }, 'Articles'), h('th', { scope: 'col' }, 'Of all'))),
        h('tbody', {}, body))),
    ];
  }

  function niceStepOf(peak, whole) {
    const rough = peak / 4;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
    return whole ? Math.max(1, Math.round(step)) : step;
  }

  function drawTrend(figure) {
    const { lines, measure, step, label } = figure.trend;
    const plot = figure.querySelector('.plot');
    const width = Math.max(260, Math.floor(plot.clientWidth || 600));
    const height = Math.round(Math.min(280, Math.max(170, width * 0.33)));
    const [left, right, top, bottom] = [52, 14, 10, 24];
    const times = lines.flatMap((line) => line.points.map((point) => point.at));
    const first = Math.min(...times);
    const last = Math.max(...times);
    const x = (t) => (last === first ? (left + width - right) / 2 : left + ((width - left - right) * (t - first)) / (last - first));
    const values = lines.flatMap((line) => line.points.map((point) => pointValue(point, measure))).filter((v) => v !== null);
    const peak = Math.max(0, ...values);
    const tick = niceStepOf(peak || (measure === 'mentions' ? 1 : 0.01), measure === 'mentions');
    const axisMax = Math.max(tick, Math.ceil(peak / tick - 1e-9) * tick);
    const y = (value) => top + (height - top - bottom) * (1 - value / axisMax);
    const digits = measure === 'mentions' ? 0 : Math.max(0, -Math.floor(Math.log10(tick * 100)));
    const tickText = (value) => (measure === 'mentions' ? number(value) : `${(100 * value).toFixed(digits)}%`);
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
    for (let i = 0; i * tick <= axisMax + tick / 1e6; i += 1) {
      svg.append(s('line', { class: 'grid', x1: left, x2: width - right, y1: y(i * tick), y2: y(i * tick) }),
        s('text', { class: 'tick', x: left - 4, y: y(i * tick) + 4, 'text-anchor': 'end' }, tickText(i * tick)));
    }
    for (const line of lines) {
      let path = '';
      let pen = 'M';
      for (const point of line.points) {
        const value = pointValue(point, measure);
        if (value === null) {
          pen = 'M';
          continue;
        }
        path += `${pen}${x(point.at).toFixed(1)},${y(value).toFixed(1)}`;
        pen = 'L';
      }
      const group = s('g', { class: `line tone-${line.tone}` }, s('path', { d: path }));
      if (line.points.length <= MARKED_POINTS) {
        for (const point of line.points) {
          const value = pointValue(point, measure);
          if (value === null) continue;
          const mark = s('circle', { cx: x(point.at).toFixed(1), cy: y(value).toFixed(1), r: 3 });
          mark.append(s('title', {}, `${line.name}, ${PERIODS[step](point.at)}: ${pointText(point, measure)}`));
          group.append(mark);
        }
      }
      svg.append(group);
    }
    const ends = last === first ? [[first, 'middle']] : [[first, 'start'], [last, 'end']];
    const middle = [...new Set(times)].sort((a, b) => a - b).find((t) => t >= (first + last) / 2);
    if (width > 420 && middle > first && middle < last) ends.push([middle, 'middle']);
    for (const [t, anchor] of ends) {
      svg.append(s('text', { class: 'tick', x: x(t), y: height - 6, 'text-anchor': anchor }, PERIODS[step](t)));
    }
    plot.replaceChildren(svg);
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
          h('td', {}, barPeriod(bar, bucket)),
          h('td', { class: 'num' }, number(bar.articles)))))),
      csvButton(`the articles per ${bucket.name} of ${column.name}`, `windows-${index}`, () => ({
        name: fileName('articles', column.name, bucket.native ? 'window' : bucket.name,
          rangeName(isoOf(view.interval.start), isoOf(view.interval.end))),
        text: csvText(['publication', 'period', 'start', 'end', 'articles'], bars.filter((bar) => bar.articles > 0)
          .map((bar) => [column.name, barPeriod(bar, bucket), iso(bar.start), iso(bar.end), bar.articles])),
      })));
    return h('div', { class: 'block' }, h('h3', {}, title), figure, details);
  }

  const barPeriod = (bar, bucket) => (bucket.native ? minuteText(bar.start) : bucket.label(bar.start));

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
    for (const figure of document.querySelectorAll('figure.trend-chart')) drawTrend(figure);
  }

  let resizeFrame = 0;
  let lastWidth = 0;
  new ResizeObserver(() => {
    const width = $('results').clientWidth;
    if (width === lastWidth) return;
    lastWidth = width;
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(drawCharts);
  }).observe($('results'));

  /* ---------- entity search (a type-ahead combobox over GET /entities/search) ---------- */

  const search = {
    input: $('entity-search'), list: $('entity-matches'), matches: [], shownFor: null, active: -1, timer: 0, asking: null,
  };

  function closeMatches() {
    search.list.hidden = true;
    search.list.replaceChildren();
    search.matches = [];
    search.shownFor = null;
    search.active = -1;
    search.input.setAttribute('aria-expanded', 'false');
    search.input.removeAttribute('aria-activedescendant');
  }

  function showMatches(items) {
    search.list.replaceChildren(...items);
    search.list.hidden = false;
    search.input.setAttribute('aria-expanded', 'true');
  }

  function markActive(index) {
    search.active = index;
    [...search.list.querySelectorAll('[role="option"]')].forEach((option, i) => {
      option.setAttribute('aria-selected', i === index ? 'true' : 'false');
      if (i === index) option.scrollIntoView({ block: 'nearest' });
    });
    if (index >= 0) search.input.setAttribute('aria-activedescendant', `entity-match-${index}`);
    else search.input.removeAttribute('aria-activedescendant');
  }

  const asked = (text) => text.replace(/\s+/g, ' ').trim();

  /** Ask for the entities starting with `text` and list them (or say why none). */
  async function lookUp(text) {
    search.asking?.abort();
    const prefix = asked(text);
    if (!prefix) {
      closeMatches();
      return;
    }
    const controller = new AbortController();
    search.asking = controller;
    let found;
    try {
      found = await getJSON(apiPath('/entities/search', { q: prefix, limit: SEARCH_MATCHES }), controller.signal);
    } catch (error) {
      if (error.name === 'AbortError') return;
      search.matches = [];
      search.shownFor = null;
      showMatches([h('li', { class: 'message', role: 'presentation' }, error.message)]);
      return;
    }
    search.matches = found;
    search.active = -1;
    search.shownFor = prefix;
    $('status').textContent = `${found.length === 1 ? '1 entity' : `${number(found.length)} entities`} starting with “${prefix}”.`;
    if (!found.length) {
      showMatches([h('li', { class: 'message', role: 'presentation' },
        `No known entity starts with “${prefix}”: try the start of another name (case and accents do not matter).`)]);
      return;
    }
    showMatches(found.map((match, index) => {
      const option = h('li', { role: 'option', id: `entity-match-${index}`, 'aria-selected': 'false' },
        h('span', { class: 'text' }, match.text), ' ', h('abbr', { class: 'kind', title: LABEL_NAMES.get(match.label) || match.label }, match.label),
        h('span', { class: 'count' }, plural(match.mentions, 'mention')));
      option.addEventListener('mousedown', (event) => event.preventDefault()); /* keep the focus in the box */
      option.addEventListener('click', () => pickMatch(index));
      return option;
    }));
  }

  function pickMatch(index) {
    const match = search.matches[index];
    if (!match) return;
    closeMatches();
    search.input.value = match.text;
    chooseEntity(match.text, match.label);
  }

  search.input.addEventListener('input', () => {
    clearTimeout(search.timer);
    search.timer = setTimeout(() => lookUp(search.input.value), 150);
  });
  search.input.addEventListener('keydown', (event) => {
    const count = search.matches.length;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (search.list.hidden) {
        lookUp(search.input.value);
        return;
      }
      if (!count) return;
      const step = event.key === 'ArrowDown' ? 1 : -1;
      markActive((search.active + step + count + (search.active < 0 && step < 0 ? 1 : 0)) % count);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      clearTimeout(search.timer);
      if (search.shownFor === asked(search.input.value)) {
        pickMatch(Math.max(0, search.active));
      } else {
        lookUp(search.input.value).then(() => pickMatch(0));
      }
    } else if (event.key === 'Escape' && !search.list.hidden) {
      event.preventDefault();
      closeMatches();
    }
  });
  search.input.addEventListener('blur', closeMatches);

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
