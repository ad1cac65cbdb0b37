// The Deferred dashboard: plain DOM, no framework. Every value from the server is written with textContent,
// never as HTML. The overview is refreshed every 5 s while the page is visible and not at all while it is hidden;
// the task list only when asked (filters, paging, refresh, after an action).
'use strict';

(() => {
  const OVERVIEW_EVERY_MS = 5000;
  const $ = (id) => document.getElementById(id);

  const state = {
    filter: {},          // the applied filter, as query parameters
    tokens: [null],      // page tokens of the pages seen so far: tokens[i] starts page i
    page: 0,
    nextToken: null,
    detailId: null,
    detail: null,
    overviewTimer: null,
    overviewBusy: false,
  };

  // ---- HTTP ------------------------------------------------------------------------------------------

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(body && body.message ? body.message : `HTTP ${response.status} for ${url}`);
      error.body = body;
      throw error;
    }
    return body;
  }

  // Actions carry X-Deferred-Action: another site cannot send it without a CORS preflight, which never succeeds.
  async function post(url) {
    const response = await fetch(url, { method: 'POST', headers: { 'X-Deferred-Action': '1', Accept: 'application/json' }, credentials: 'same-origin' });
    const body = await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, message: body && body.message ? body.message : `HTTP ${response.status}`, body };
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== '') {
        search.set(key, value);
      }
    }
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  // ---- Formatting ------------------------------------------------------------------------------------

  const number = new Intl.NumberFormat(undefined);
  const pad = (n) => String(n).padStart(2, '0');

  function formatTime(iso) {
    if (!iso) {
      return '—';
    }
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function relative(iso) {
    if (!iso) {
      return '';
    }
    const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 172800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
    return seconds >= 0 ? `in ${text}` : `${text} ago`;
  }

  function formatSeconds(value) {
    if (value === null || value === undefined) {
      return '—';
    }
    if (value < 0.001) {
      return '< 1 ms';
    }
    if (value < 1) {
      return `${(value * 1000).toFixed(value < 0.01 ? 1 : 0)} ms`;
    }
    if (value < 120) {
      return `${value.toFixed(value < 10 ? 2 : 1)} s`;
    }
    return `${(value / 60).toFixed(1)} min`;
  }

  const rate = (value) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

  // A local datetime-local value ("2026-01-31T12:00") as an ISO instant in UTC, which the API requires, and back.
  const toIso = (local) => (local ? new Date(local).toISOString() : '');
  function toLocalInput(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) {
      return '';
    }
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function badge(status) {
    return el('span', status, `badge ${status}`);
  }

  let toastTimer = null;
  function toast(message, isError) {
    const box = $('toast');
    box.textContent = message;
    box.className = isError ? 'error' : '';
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, isError ? 10000 : 5000);
  }

  // ---- Overview --------------------------------------------------------------------------------------

  async function refreshOverview() {
    if (state.overviewBusy) {
      return;
    }
    state.overviewBusy = true;
    try {
      const overview = await getJson('api/overview');
      renderOverview(overview);
      $('connection').textContent = `updated ${formatTime(new Date().toISOString())}`;
    } catch (error) {
      $('connection').textContent = `overview failed: ${error.message}`;
      // The store is down (503): the counts are unknown, this process's rates are still current.
      if (error.body && error.body.local) {
        renderStoreDown(error.message);
        renderLocal(error.body.local);
      }
    } finally {
      state.overviewBusy = false;
    }
  }

  function renderOverview(o) {
    for (const [key, value] of Object.entries({ Pending: o.totals.pending, Failed: o.totals.failed, Dead: o.totals.dead, Total: o.totals.total })) {
      const cell = $(`count-${key}`);
      cell.textContent = number.format(value);
      cell.dataset.count = String(value);
    }
    $('counted-at').textContent = `Stored tasks of the whole service, counted ${formatTime(o.countedAt)} in ${o.countMilliseconds} ms.`;

    const body = $('types').tBodies[0];
    const rows = o.types.map((t) => {
      const row = el('tr');
      row.dataset.taskType = t.taskType;
      const name = el('td');
      const link = el('a', t.taskType);
      link.href = '#';
      link.addEventListener('click', (e) => { e.preventDefault(); applyFilter({ type: t.taskType }); });
      name.append(link);
      row.append(name, el('td', number.format(t.pending), 'num'), el('td', number.format(t.failed), 'num'), el('td', number.format(t.dead), 'num'), el('td', number.format(t.total), 'num'));
      return row;
    });
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'No tasks are stored.', 'empty');
      cell.colSpan = 5;
      row.append(cell);
      rows.push(row);
    }
    body.replaceChildren(...rows);
    $('type-names').replaceChildren(...o.types.map((t) => { const option = el('option'); option.value = t.taskType; return option; }));
    renderLocal(o.local);
  }

  function renderStoreDown(message) {
    for (const key of ['Pending', 'Failed', 'Dead', 'Total']) {
      const cell = $(`count-${key}`);
      cell.textContent = '—';
      delete cell.dataset.count;
    }
    $('counted-at').textContent = message;
  }

  function renderLocal(local) {
    $('local-note').textContent =
      `Throughput, failures and queue wait are measured in the process hosting this dashboard (${local.host}, pid ${local.processId}, listening since ${formatTime(local.since)}): ` +
      'the attempts its silo ran, not the whole cluster\'s. For cluster-wide figures, export the meter "Deferred" with OpenTelemetry.';
    $('rate-succeeded').textContent = rate(local.lastMinute.succeededPerSecond);
    $('rate-failed').textContent = rate(local.lastMinute.failedPerSecond);
    const wait = local.queueWait;
    $('wait-p50').textContent = formatSeconds(wait.p50Seconds);
    $('wait-p99').textContent = formatSeconds(wait.p99Seconds);
    $('wait-p50').title = `${number.format(wait.count)} attempts started in the last ${wait.windowSeconds / 60} min; last minute: p50 ${formatSeconds(wait.lastMinuteP50Seconds)}`;
    $('wait-p99').title = `last minute: p99 ${formatSeconds(wait.lastMinuteP99Seconds)}`;
    drawChart(local);
  }

  let lastLocal = null;
  window.addEventListener('resize', () => { if (lastLocal) { drawChart(lastLocal); } });

  function drawChart(local) {
    lastLocal = local;
    const svg = $('chart');
    const ns = 'http://www.w3.org/2000/svg';
    // Drawn at the element's own width, so text keeps its size and the plot fills the panel.
    const width = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 640);
    const height = 160;
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const left = 40;
    const bottom = 18;
    const top = 8;
    const succeeded = local.succeededPerSecond;
    const failed = local.failedPerSecond;
    const points = succeeded.length;
    const max = niceCeiling(Math.max(1, ...succeeded, ...failed));
    const x = (i) => left + (i + 0.5) * ((width - left - 4) / points);
    const y = (v) => top + (height - top - bottom) * (1 - v / max);
    const make = (name, attributes, text) => {
      const node = document.createElementNS(ns, name);
      for (const [key, value] of Object.entries(attributes)) {
        node.setAttribute(key, String(value));
      }
      if (text !== undefined) {
        node.textContent = text;
      }
      return node;
    };

    const title = svg.querySelector('title');
    const children = [title];
    // Before the listener started there are no figures: shade that part rather than draw zeros as if measured.
    const start = new Date(local.seriesStart).getTime();
    const sinceIndex = Math.floor((new Date(local.since).getTime() - start) / (local.stepSeconds * 1000));
    if (sinceIndex > 0) {
      const to = Math.min(sinceIndex, points);
      const shaded = x(to - 1) - left;
      children.push(make('rect', { class: 'since', x: left, y: top, width: shaded, height: height - top - bottom }));
      if (shaded > 160) {
        children.push(make('text', { class: 'label', x: left + shaded / 2, y: top + (height - top - bottom) / 2, 'text-anchor': 'middle' }, 'before this process started listening'));
      }
    }
    for (const fraction of [0, 0.5, 1]) {
      const value = max * fraction;
      children.push(make('line', { class: 'axis', x1: left, x2: width - 4, y1: y(value), y2: y(value) }));
      children.push(make('text', { class: 'label', x: left - 4, y: y(value) + 3, 'text-anchor': 'end' }, rate(value)));
    }
    const minutes = (points * local.stepSeconds) / 60;
    for (const [index, label] of [[0, `-${minutes} min`], [Math.floor(points / 2), `-${minutes / 2} min`], [points - 1, 'now']]) {
      children.push(make('text', { class: 'label', x: x(index), y: height - 4, 'text-anchor': index === 0 ? 'start' : index === points - 1 ? 'end' : 'middle' }, label));
    }
    const line = (values, className) => make('polyline', { class: className, points: values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ') });
    children.push(line(succeeded, 'succeeded'), line(failed, 'failed'));
    svg.replaceChildren(...children);
  }

  function niceCeiling(value) {
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) {
      if (value <= step * magnitude) {
        return step * magnitude;
      }
    }
    return 10 * magnitude;
  }

  // Polls only while the page is visible; one request at a time; the next one 5 s after the last ended.
  function scheduleOverview(delay) {
    clearTimeout(state.overviewTimer);
    state.overviewTimer = null;
    if (document.visibilityState !== 'visible') {
      return;
    }
    state.overviewTimer = setTimeout(async () => {
      await refreshOverview();
      scheduleOverview(OVERVIEW_EVERY_MS);
    }, delay);
  }

  document.addEventListener('visibilitychange', () => scheduleOverview(0));

  // ---- Task list -------------------------------------------------------------------------------------

  function readFilter() {
    const form = $('filters');
    return {
      status: form.elements.status.value,
      type: form.elements.type.value.trim(),
      error: form.elements.error.value.trim(),
      dueFrom: toIso(form.elements.dueFrom.value),
      dueBefore: toIso(form.elements.dueBefore.value),
      pageSize: form.elements.pageSize.value,
    };
  }

  function applyFilter(overrides) {
    const form = $('filters');
    if (overrides) {
      form.reset();
      for (const [key, value] of Object.entries(overrides)) {
        form.elements[key].value = value;
      }
    }
    state.filter = readFilter();
    state.tokens = [null];
    state.page = 0;
    // The filter is kept in the address, so a filtered list can be bookmarked or linked from an alert.
    history.replaceState(null, '', `${location.pathname}${query(state.filter)}${location.hash}`);
    loadPage();
  }

  // Fills the filter form from the address (?status=Dead&type=…&error=…&dueFrom=…&dueBefore=…&pageSize=…).
  function filterFromAddress() {
    const form = $('filters');
    const params = new URLSearchParams(location.search);
    for (const name of ['status', 'type', 'error', 'pageSize']) {
      if (params.has(name)) {
        form.elements[name].value = params.get(name);
      }
    }
    for (const name of ['dueFrom', 'dueBefore']) {
      if (params.has(name)) {
        form.elements[name].value = toLocalInput(params.get(name));
      }
    }
  }

  async function loadPage() {
    const problem = $('list-error');
    try {
      const page = await getJson(`api/tasks${query({ ...state.filter, pageToken: state.tokens[state.page] })}`);
      problem.hidden = true;
      state.nextToken = page.nextPageToken;
      renderTasks(page.tasks);
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
      state.nextToken = null;
      renderTasks([]);
    }
    $('prev').disabled = state.page === 0;
    $('next').disabled = !state.nextToken;
    $('page-label').textContent = `page ${state.page + 1}`;
  }

  function renderTasks(tasks) {
    const rows = tasks.map((t) => {
      const row = el('tr');
      row.dataset.taskId = t.taskId;
      row.dataset.status = t.status;
      if (t.taskId === state.detailId) {
        row.classList.add('selected');
      }
      const id = el('td');
      const link = el('a', t.taskId);
      link.href = `#task/${encodeURIComponent(t.taskId)}`;
      id.append(link);
      const status = el('td');
      status.append(badge(t.status));
      const next = el('td', t.status === 'Dead' ? '—' : formatTime(t.nextRunAt));
      next.title = t.status === 'Dead' ? `last attempt ${formatTime(t.nextRunAt)}` : relative(t.nextRunAt);
      const errorText = t.lastErrorType ? `${t.lastErrorType}: ${t.lastErrorMessage || ''}` : '';
      const error = el('td');
      error.append(el('span', errorText, 'clip'));
      error.title = errorText;
      row.append(id, el('td', t.taskType), status, el('td', `${t.attempts} / ${t.maxAttempts}`, 'num'), next, error);
      return row;
    });
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'No stored task matches the filter.', 'empty');
      cell.colSpan = 6;
      row.append(cell);
      rows.push(row);
    }
    $('task-list').tBodies[0].replaceChildren(...rows);
  }

  // ---- Task detail -----------------------------------------------------------------------------------

  async function showDetail(taskId) {
    state.detailId = taskId;
    const section = $('detail');
    section.hidden = false;
    $('detail-id').textContent = taskId;
    for (const row of $('task-list').tBodies[0].rows) {
      row.classList.toggle('selected', row.dataset.taskId === taskId);
    }
    const problem = $('detail-error');
    try {
      const details = await getJson(`api/tasks/${encodeURIComponent(taskId)}`);
      problem.hidden = true;
      $('detail-body').hidden = false;
      renderDetail(details);
    } catch (error) {
      state.detail = null;
      problem.textContent = error.message;
      problem.hidden = false;
      $('detail-body').hidden = true;
    }
  }

  function renderDetail(d) {
    state.detail = d;
    const info = d.info;
    const fields = [
      ['Status', badge(info.status)],
      ['Task type', info.taskType],
      ['Attempts', `${info.attempts} failed of at most ${info.maxAttempts}`],
      ['Enqueued', `${formatTime(info.enqueuedAt)} (${relative(info.enqueuedAt)})`],
      ['Next run', info.nextRunAt ? `${formatTime(info.nextRunAt)} (${relative(info.nextRunAt)})` : info.status === 'Dead' ? 'none: dead tasks are not run again unless retried' : '—'],
      ['Owner', d.owner || 'none (released)'],
      ['Running since', d.runningSince ? formatTime(d.runningSince) : '—'],
      ['Interruptions', String(info.interruptions)],
      ['Snoozes', String(info.snoozes ?? 0)],
      ['Progress', info.progress ? `${Math.round(info.progress.fraction * 100)}%${info.progress.message ? ' ' + info.progress.message : ''} (${relative(info.progress.at)})` : '—'],
    ];
    const list = $('detail-fields');
    list.replaceChildren(...fields.flatMap(([name, value]) => {
      const dd = el('dd');
      dd.dataset.field = name;
      if (value instanceof Node) {
        dd.append(value);
      } else {
        dd.textContent = value;
      }
      return [el('dt', name), dd];
    }));

    const error = info.lastError;
    $('last-error-summary').textContent = error ? `${error.type}: ${error.message} (attempt ${error.attempt}, ${formatTime(error.at)})` : 'No attempt has failed.';
    $('last-error-stack').textContent = error && error.stackTrace ? error.stackTrace : '';
    $('last-error-stack').hidden = !(error && error.stackTrace);
    $('payload-meta').textContent = `${d.payloadType || 'type not known on this silo'}, ${number.format(d.payloadBytes)} bytes serialized`;
    $('payload-json').textContent = d.payloadJson ? pretty(d.payloadJson) : 'The payload cannot be shown as JSON (no handler for its type here, or unreadable).';

    $('action-retry').disabled = info.status !== 'Dead';
    $('action-run-now').disabled = info.status !== 'Pending' && info.status !== 'Failed';
    $('action-cancel').disabled = info.status === 'Dead';
    $('action-delete').disabled = info.status === 'Running';
  }

  function pretty(json) {
    try {
      return JSON.stringify(JSON.parse(json), null, 2);
    } catch {
      return json;
    }
  }

  function closeDetail() {
    state.detailId = null;
    state.detail = null;
    $('detail').hidden = true;
    if (location.hash.startsWith('#task/')) {
      history.replaceState(null, '', location.pathname + location.search);
    }
    for (const row of $('task-list').tBodies[0].rows) {
      row.classList.remove('selected');
    }
  }

  function route() {
    const match = /^#task\/(.+)$/.exec(location.hash);
    if (match) {
      showDetail(decodeURIComponent(match[1])).then(() => $('detail').scrollIntoView({ block: 'start' }));
    } else if (!$('detail').hidden) {
      closeDetail();
    }
  }

  // ---- Actions ---------------------------------------------------------------------------------------

  function confirmAction(question) {
    const dialog = $('confirm');
    $('confirm-text').textContent = question;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('confirm-yes').removeEventListener('click', yes);
        $('confirm-no').removeEventListener('click', no);
        dialog.removeEventListener('cancel', no);
        dialog.close();
        resolve(answer);
      };
      const yes = () => done(true);
      const no = () => done(false);
      $('confirm-yes').addEventListener('click', yes);
      $('confirm-no').addEventListener('click', no);
      dialog.addEventListener('cancel', no);
      dialog.showModal();
      $('confirm-no').focus();
    });
  }

  async function act(url, question) {
    if (!(await confirmAction(question))) {
      return;
    }
    const result = await post(url);
    toast(result.message, !result.ok);
    await Promise.all([refreshOverview(), loadPage(), state.detailId ? showDetail(state.detailId) : Promise.resolve()]);
  }

  function taskAction(action, question) {
    const id = state.detailId;
    if (id) {
      act(`api/tasks/${encodeURIComponent(id)}/${action}`, question(id));
    }
  }

  $('action-retry').addEventListener('click', () =>
    taskAction('retry', (id) => `Retry dead task ${id}? It gets a fresh set of attempts and runs now.`));
  $('action-run-now').addEventListener('click', () =>
    taskAction('run-now', (id) => `Run task ${id} now? Its next attempt starts at once instead of at its due time; its attempts are unchanged.`));
  $('action-cancel').addEventListener('click', () =>
    taskAction('cancel', (id) => `Cancel task ${id}? A waiting task is removed at once; a running one is signalled and removed when its handler returns.`));
  $('action-delete').addEventListener('click', () =>
    taskAction('delete', (id) => `Delete task ${id}? It is removed and will not run.`));

  // A bulk action is prepared first (its tasks listed and counted, nothing changed), confirmed with that count, then
  // started; it runs in a silo to its end whether or not this page stays open. Its progress is polled until it ends.
  const BULK_POLL_MS = 1000;

  async function bulkAction(prepareUrl, question) {
    const prepared = await post(prepareUrl);
    if (!prepared.ok) {
      toast(prepared.message, true);
      return;
    }
    const action = prepared.body.bulk;
    const base = `api/bulk/${encodeURIComponent(action.id)}`;
    if (action.total === 0) {
      post(`${base}/cancel`);
      toast(prepared.message);
      return;
    }
    if (!(await confirmAction(question(action.total)))) {
      post(`${base}/cancel`);
      return;
    }
    const started = await post(`${base}/start`);
    if (!started.ok) {
      toast(started.message, true);
      return;
    }
    await watchBulk(base, started.body.bulk, started.message);
  }

  function showBulk(action, message) {
    $('bulk-progress').hidden = false;
    const bar = $('bulk-bar');
    bar.max = Math.max(action.total, 1);
    bar.value = action.total - action.remaining;
    $('bulk-text').textContent = message;
    $('bulk-cancel').hidden = action.isFinished;
  }

  async function watchBulk(base, action, message) {
    $('bulk-cancel').onclick = async () => {
      const cancelled = await post(`${base}/cancel`);
      if (!cancelled.ok) {
        toast(cancelled.message, true);
      }
    };
    showBulk(action, message);
    while (!action.isFinished) {
      await new Promise((resolve) => setTimeout(resolve, BULK_POLL_MS));
      try {
        const now = await getJson(base);
        action = now.bulk;
        message = now.message;
      } catch (e) {
        $('bulk-text').textContent = `${e.message} The action goes on in the cluster if its silo is up.`;
        $('bulk-cancel').hidden = true;
        return;
      }
      showBulk(action, message);
    }
    toast(message, action.failed > 0);
    await Promise.all([refreshOverview(), loadPage()]);
  }

  $('retry-matching').addEventListener('click', () => {
    const { pageSize, status, ...filter } = state.filter;
    if (status && status !== 'Dead') {
      toast(`The filter selects status ${status}; only dead tasks are retried. Set status to Dead or Any.`, true);
      return;
    }
    const described = Object.entries(filter).filter(([, v]) => v).map(([k, v]) => `${k} = ${v}`).join(', ') || 'no other filter: every dead task';
    bulkAction(`api/dead/retry${query(filter)}`, (total) =>
      `Retry ${number.format(total)} dead task(s) matching the applied filter (${described})? They run again now, each once.`);
  });

  $('purge').addEventListener('click', () => {
    const before = $('purge-before').value;
    if (!before) {
      toast('Choose a date: dead tasks whose last attempt was due before it are purged.', true);
      return;
    }
    bulkAction(`api/dead/purge${query({ olderThan: toIso(before) })}`, (total) =>
      `Delete ${number.format(total)} dead task(s) whose last attempt was due before ${before.replace('T', ' ')}? This cannot be undone.`);
  });

  // ---- Schedules -------------------------------------------------------------------------------------

  async function loadSchedules() {
    try {
      renderSchedules(await getJson('api/schedules'));
    } catch (error) {
      $('schedules-note').textContent = `Schedules could not be read: ${error.message}`;
    }
  }

  function renderSchedules(schedules) {
    const rows = schedules.map((s) => {
      const row = el('tr');
      row.dataset.schedule = s.name;
      const button = el('button', s.paused ? 'Resume' : 'Pause');
      button.type = 'button';
      button.dataset.action = s.paused ? 'resume' : 'pause';
      button.addEventListener('click', () => scheduleAction(s.name, s.paused ? 'resume' : 'pause'));
      const act = el('td');
      act.append(button);
      row.append(
        el('td', s.name),
        el('td', s.taskType),
        el('td', s.timeZone && s.timeZone !== 'UTC' ? `${s.spec} (${s.timeZone})` : s.spec),
        el('td', s.paused ? 'paused' : 'active', s.paused ? 'state paused' : 'state'),
        el('td', s.paused ? '—' : formatTime(s.nextOccurrence)),
        el('td', formatTime(s.lastOccurrence)),
        el('td', s.source === 'Code' ? 'code' : 'run time'),
        act);
      return row;
    });
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'No schedules are stored.', 'empty');
      cell.colSpan = 8;
      row.append(cell);
      rows.push(row);
    }
    $('schedule-list').tBodies[0].replaceChildren(...rows);
    $('schedules-note').textContent = `${schedules.length} schedule(s), read ${formatTime(new Date().toISOString())}.`;
  }

  async function scheduleAction(name, action) {
    const question = action === 'pause'
      ? `Pause schedule ${name}? No occurrence is enqueued until it is resumed.`
      : `Resume schedule ${name}? Its next occurrence is enqueued when due.`;
    if (!(await confirmAction(question))) {
      return;
    }
    const result = await post(`api/schedules/${encodeURIComponent(name)}/${action}`);
    toast(result.message, !result.ok);
    await loadSchedules();
  }

  // ---- Wiring ----------------------------------------------------------------------------------------

  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    applyFilter();
  });
  $('reset-filters').addEventListener('click', () => applyFilter({}));
  $('prev').addEventListener('click', () => {
    if (state.page > 0) {
      state.page -= 1;
      loadPage();
    }
  });
  $('next').addEventListener('click', () => {
    if (state.nextToken) {
      state.tokens = state.tokens.slice(0, state.page + 1);
      state.tokens.push(state.nextToken);
      state.page += 1;
      loadPage();
    }
  });
  $('refresh-list').addEventListener('click', () => loadPage());
  $('detail-close').addEventListener('click', closeDetail);
  window.addEventListener('hashchange', route);

  filterFromAddress();
  state.filter = readFilter();
  refreshOverview().then(() => scheduleOverview(OVERVIEW_EVERY_MS));
  loadPage();
  loadSchedules();
  route();
})();
