/*
 * segd test player — plain browser JS, no build step.
 *
 * URL parameters:
 *   ?src=/fmp4/master.m3u8   stream to play (default: first entry of /api/streams)
 *   &level=N                 lock hls.js to level N from the start (omit for auto)
 *
 * Playback uses hls.js over Media Source Extensions whenever Hls.isSupported();
 * native HLS (<video src=...m3u8>) is only a fallback for browsers without MSE.
 *
 * For tests and debugging the page exposes `window.segdPlayer`:
 *   engine         'hls.js' | 'native' | 'none'
 *   hlsVersion     hls.js version string (or null)
 *   src            URL being played (as given, e.g. '/ts/master.m3u8')
 *   lockedLevel    level index requested via ?level= or a level button, -1 = auto
 *   video          the <video> element
 *   hls            the Hls instance (null for native playback)
 *   levels         [{ index, width, height, bitrate, name, codecs }] from MANIFEST_PARSED
 *   errors         every error seen, in order: hls.js ERROR events (fatal or not),
 *                  <video> 'error' events and page-level failures:
 *                  { at, source: 'hls'|'video'|'page', type, details, fatal, url, message }
 *   fragLoads      every FRAG_LOADED, i.e. media segments (hls.js 1.7 emits none for init segments):
 *                  { at, type: 'main'|'audio'|..., level, sn, url, byteRange: [start,end]|null,
 *                    bytes, loadMs, firstByteMs }
 *   levelSwitches  every LEVEL_SWITCHED: { at, level, width, height, bitrate }
 *   manifestParsed true once MANIFEST_PARSED fired (or native loadedmetadata)
 *   load(src, level?)   start another stream (level -1/undefined = auto)
 *   setLevel(n)         lock to level n immediately, -1 returns to automatic
 * `at` fields are performance.now() milliseconds.
 */
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var video = $('video');
  var MAX_FRAG_ROWS = 8;

  var state = {
    engine: 'none',
    hlsVersion: null,
    src: null,
    lockedLevel: -1,
    video: video,
    hls: null,
    levels: [],
    errors: [],
    fragLoads: [],
    levelSwitches: [],
    manifestParsed: false,
    load: load,
    setLevel: setLevel,
  };
  window.segdPlayer = state;

  // ---- helpers ------------------------------------------------------------
  function now() { return Math.round(performance.now()); }

  function fmtBits(bps) {
    if (!isFinite(bps) || bps <= 0) return '–';
    if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mbit/s';
    return Math.round(bps / 1e3) + ' kbit/s';
  }
  function fmtBytes(n) {
    if (!isFinite(n)) return '–';
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function levelName(l) {
    if (!l) return '?';
    if (l.height) return l.height + 'p';
    // A media playlist (single level) has no RESOLUTION: name it after the decoded picture.
    if (state.levels.length === 1 && video.videoHeight) return video.videoHeight + 'p';
    return 'level ' + l.index;
  }
  function bufferAhead() {
    var b = video.buffered, t = video.currentTime;
    for (var i = 0; i < b.length; i++) {
      if (b.start(i) <= t + 0.05 && t < b.end(i)) return b.end(i) - t;
    }
    return 0;
  }
  function setText(id, text) {
    var el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }
  function notice(msg) {
    var el = $('notice');
    el.textContent = msg || '';
    el.hidden = !msg;
  }

  function recordError(e) {
    var entry = {
      at: now(),
      source: e.source,
      type: e.type || '',
      details: e.details || '',
      fatal: !!e.fatal,
      url: e.url || '',
      message: e.message || '',
    };
    state.errors.push(entry);
    renderErrors();
    return entry;
  }

  // ---- URL handling -----------------------------------------------------
  function readParams() {
    var p = new URLSearchParams(location.search);
    var level = p.get('level');
    return { src: p.get('src'), level: level === null || level === '' ? -1 : parseInt(level, 10) };
  }
  function writeParams() {
    var p = new URLSearchParams(location.search);
    if (state.src) p.set('src', state.src); else p.delete('src');
    if (state.lockedLevel >= 0) p.set('level', String(state.lockedLevel)); else p.delete('level');
    var qs = p.toString().replace(/%2F/gi, '/');
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
  }

  // ---- playback -------------------------------------------------------------
  function teardown() {
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    video.removeAttribute('src');
    video.load();
    state.levels = [];
    state.errors.length = 0;
    state.fragLoads.length = 0;
    state.levelSwitches.length = 0;
    state.manifestParsed = false;
    renderErrors();
    renderFrags();
    renderLevelButtons();
  }

  function load(src, level) {
    teardown();
    state.src = src;
    state.lockedLevel = typeof level === 'number' && level >= 0 ? level : -1;
    writeParams();
    syncPicker();
    notice('');

    var Hls = window.Hls;
    if (!Hls) {
      // vendor script missing: native fallback (or a clear notice) still works.
      recordError({ source: 'page', type: 'vendor', details: 'hlsJsNotLoaded', fatal: false,
                    url: '/player/vendor/hls.min.js', message: 'hls.js failed to load' });
    }
    // hls.js (MSE) first: Chromium can also play HLS natively, but we want hls.js.
    if (Hls && Hls.isSupported()) {
      startHlsJs(Hls, src);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      state.engine = 'native';
      video.src = src;
      video.addEventListener('loadedmetadata', function once() {
        video.removeEventListener('loadedmetadata', once);
        state.manifestParsed = true;
      });
      play();
    } else {
      state.engine = 'none';
      notice('This browser supports neither Media Source Extensions nor native HLS.');
      recordError({ source: 'page', type: 'unsupported', details: 'noMseNoNativeHls', fatal: true });
    }
  }

  function startHlsJs(Hls, src) {
    state.engine = 'hls.js';
    state.hlsVersion = Hls.version;
    var config = { enableWorker: true, lowLatencyMode: false };
    if (state.lockedLevel >= 0) config.startLevel = state.lockedLevel;
    var hls = new Hls(config);
    state.hls = hls;
    var E = Hls.Events;

    hls.on(E.MANIFEST_PARSED, function (_e, data) {
      state.levels = hls.levels.map(function (l, i) {
        return { index: i, width: l.width || 0, height: l.height || 0, bitrate: l.bitrate || 0,
                 name: l.name || '', codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(',') };
      });
      if (state.lockedLevel >= 0) {
        if (state.lockedLevel < hls.levels.length) {
          hls.loadLevel = state.lockedLevel; // manual level, no buffer flush needed yet
        } else {
          notice('Level ' + state.lockedLevel + ' does not exist (' + hls.levels.length + ' levels); playing auto.');
          state.lockedLevel = -1;
          writeParams();
        }
      }
      state.manifestParsed = true;
      renderLevelButtons();
      play();
    });

    hls.on(E.LEVEL_SWITCHED, function (_e, data) {
      var l = hls.levels[data.level] || {};
      state.levelSwitches.push({ at: now(), level: data.level, width: l.width || 0, height: l.height || 0, bitrate: l.bitrate || 0 });
      renderLevelButtons();
    });

    hls.on(E.FRAG_LOADED, function (_e, data) {
      var f = data.frag, st = f.stats || {}, ld = st.loading || {};
      var br = f.byteRange && f.byteRange.length === 2 ? [f.byteRange[0], f.byteRange[1]] : null;
      state.fragLoads.push({
        at: now(),
        type: f.type,
        level: f.level,
        sn: f.sn,
        url: f.url,
        byteRange: br,
        bytes: st.loaded || (data.payload && data.payload.byteLength) || 0,
        loadMs: ld.end && ld.start ? Math.round(ld.end - ld.start) : null,
        firstByteMs: ld.first && ld.start ? Math.round(ld.first - ld.start) : null,
      });
      renderFrags();
    });

    hls.on(E.ERROR, function (_e, data) {
      var url = (data.frag && data.frag.url) || (data.context && data.context.url) || data.url || '';
      var msg = data.error && data.error.message ? data.error.message : (data.reason || '');
      if (data.response && data.response.code && msg.indexOf(String(data.response.code)) < 0) {
        msg = (msg ? msg + ' ' : '') + '(HTTP ' + data.response.code + ')';
      }
      recordError({ source: 'hls', type: data.type, details: data.details, fatal: data.fatal, url: url, message: msg });
      if (!data.fatal) return;
      // Standard hls.js recovery for fatal errors; anything else ends playback.
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && state.manifestParsed) {
        hls.startLoad();
      } else {
        notice('Fatal error: ' + data.details + (msg ? ' — ' + msg : ''));
        hls.destroy();
        if (state.hls === hls) state.hls = null;
      }
    });

    hls.attachMedia(video);
    hls.loadSource(src);
  }

  function play() {
    var p = video.play();
    if (p && p.catch) p.catch(function (err) {
      // Autoplay blocked or interrupted by a new load: not a stream error, just tell the user.
      if (err && err.name === 'NotAllowedError') notice('Autoplay was blocked — press play.');
    });
  }

  function setLevel(n) {
    var hls = state.hls;
    if (!hls) return;
    if (n >= 0) {
      state.lockedLevel = n;
      hls.currentLevel = n; // immediate switch (flushes the forward buffer)
    } else {
      state.lockedLevel = -1;
      hls.loadLevel = -1;   // back to ABR without a flush
    }
    writeParams();
    renderLevelButtons();
  }

  video.addEventListener('error', function () {
    var e = video.error;
    // With hls.js attached, MSE problems also surface as hls.js errors; record both.
    recordError({ source: 'video', type: 'mediaElement', details: e ? 'MEDIA_ERR_' + e.code : 'unknown', fatal: true,
                  url: state.src || '', message: e && e.message ? e.message : '' });
  });

  // ---- rendering ----------------------------------------------------------
  function renderLevelButtons() {
    var box = $('level-buttons');
    box.textContent = '';
    var hls = state.hls;
    if (!hls || !state.levels.length) {
      var span = document.createElement('span');
      span.className = 'levels-label';
      span.textContent = state.engine === 'native' ? 'chosen by the browser' : '–';
      box.appendChild(span);
      return;
    }
    var playing = hls.currentLevel;
    var mk = function (label, extra, level) {
      var b = document.createElement('button');
      b.type = 'button';
      b.dataset.level = String(level);
      b.textContent = label;
      if (extra) {
        var s = document.createElement('small');
        s.textContent = extra;
        b.appendChild(s);
      }
      b.setAttribute('aria-pressed', String(state.lockedLevel === level));
      if (level >= 0 && level === playing) b.classList.add('playing');
      b.addEventListener('click', function () { setLevel(level); });
      box.appendChild(b);
    };
    mk('Auto', state.lockedLevel < 0 && playing >= 0 ? levelName(state.levels[playing]) : '', -1);
    state.levels.forEach(function (l) {
      mk(levelName(l), l.bitrate ? Math.round(l.bitrate / 1000) + 'k' : '', l.index);
    });
  }

  function renderFrags() {
    var body = $('frag-rows');
    body.textContent = '';
    var list = state.fragLoads.slice(-MAX_FRAG_ROWS).reverse();
    if (!list.length) {
      body.innerHTML = '<tr class="empty"><td colspan="5">none yet</td></tr>';
      return;
    }
    list.forEach(function (f) {
      var tr = document.createElement('tr');
      var cells = [f.type, String(f.level), String(f.sn),
                   fmtBytes(f.bytes), f.loadMs === null ? '–' : f.loadMs + ' ms'];
      cells.forEach(function (c, i) {
        var td = document.createElement('td');
        td.textContent = c;
        if (i >= 3) td.className = 'num';
        tr.appendChild(td);
      });
      tr.title = f.url + (f.byteRange ? ' bytes ' + f.byteRange[0] + '-' + (f.byteRange[1] - 1) : '');
      body.appendChild(tr);
    });
  }

  function renderErrors() {
    var list = $('error-list');
    var badge = $('error-count');
    badge.textContent = String(state.errors.length);
    badge.className = 'badge ' + (state.errors.length ? 'bad' : 'ok');
    list.textContent = '';
    if (!state.errors.length) {
      list.innerHTML = '<li class="empty">none</li>';
      return;
    }
    state.errors.slice().reverse().forEach(function (e) {
      var li = document.createElement('li');
      if (e.fatal) li.className = 'fatal';
      var when = document.createElement('span');
      when.className = 'when';
      when.textContent = (e.at / 1000).toFixed(1) + 's ';
      var what = document.createElement('span');
      what.className = 'what';
      what.textContent = e.source + ' ' + e.type + '/' + e.details + (e.fatal ? ' (fatal)' : '');
      li.appendChild(when);
      li.appendChild(what);
      var extra = [e.message, e.url].filter(Boolean).join(' — ');
      if (extra) li.appendChild(document.createTextNode(' ' + extra));
      list.appendChild(li);
    });
  }

  function renderFigures() {
    var hls = state.hls;
    setText('f-engine', state.engine === 'hls.js' ? 'hls.js ' + state.hlsVersion + ' (MSE)' : state.engine);
    var st = video.error ? 'error' : video.ended ? 'ended' : video.paused ? (video.readyState ? 'paused' : 'idle')
           : video.readyState < 3 ? 'buffering' : 'playing';
    setText('f-state', st);
    if (hls && hls.currentLevel >= 0) {
      var l = state.levels[hls.currentLevel];
      setText('f-level', hls.currentLevel + ' · ' + levelName(l) + (state.lockedLevel >= 0 ? ' (locked)' : ' (auto)'));
      setText('f-bw', fmtBits(hls.bandwidthEstimate));
    } else {
      setText('f-level', hls ? '–' : state.engine === 'native' ? 'native' : '–');
      setText('f-bw', hls ? fmtBits(hls.bandwidthEstimate) : '–');
    }
    setText('f-res', video.videoWidth ? video.videoWidth + '×' + video.videoHeight : '–');
    setText('f-buffer', bufferAhead().toFixed(1) + ' s');
    setText('f-time', video.currentTime.toFixed(1) + (isFinite(video.duration) ? ' / ' + video.duration.toFixed(1) : '') + ' s');
    var q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    setText('f-frames', q ? q.totalVideoFrames + ' / ' + q.droppedVideoFrames : 'n/a');
    // keep the "playing" highlight current while on auto
    var playingBtn = document.querySelector('.level-buttons button.playing');
    var cur = hls ? hls.currentLevel : -1;
    if ((playingBtn ? Number(playingBtn.dataset.level) : -1) !== cur && state.levels.length) renderLevelButtons();
  }
  setInterval(renderFigures, 250);
  ['timeupdate', 'playing', 'pause', 'waiting', 'ended', 'resize'].forEach(function (ev) {
    video.addEventListener(ev, renderFigures);
  });
  video.addEventListener('resize', renderLevelButtons);

  // ---- stream picker ------------------------------------------------------
  var select = $('stream-select');
  var urlInput = $('stream-url');

  function syncPicker() {
    if (!state.src) return;
    urlInput.value = state.src;
    var found = false;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === state.src) { select.selectedIndex = i; found = true; }
    }
    if (!found) {
      var custom = select.querySelector('option[data-custom]');
      if (!custom) {
        custom = document.createElement('option');
        custom.dataset.custom = '1';
        select.appendChild(custom);
      }
      custom.value = state.src;
      custom.textContent = 'other: ' + state.src;
      select.value = state.src;
    }
  }

  select.addEventListener('change', function () {
    if (select.value) load(select.value);
  });
  $('picker').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var v = urlInput.value.trim();
    if (v) load(v);
  });

  // With a manifest (segd index), /api/streams carries each stream's catalogue entry.
  function catalogueLabel(c) {
    if (!c || typeof c.duration !== 'number') return '';
    var parts = [Math.round(c.duration) + ' s'];
    if (c.renditions && c.renditions.length) parts.push(c.renditions.length + ' renditions');
    if (c.status === 'errors') parts.push(c.errors + ' errors');
    else if (c.status === 'warnings') parts.push(c.warnings + ' warnings');
    return ' · ' + parts.join(', ');
  }

  function fillStreams(streams) {
    select.textContent = '';
    streams.forEach(function (s) {
      if (!s || typeof s.path !== 'string') return;
      var o = document.createElement('option');
      o.value = s.path;
      o.textContent = (s.name || s.path) + (s.kind ? ' · ' + s.kind : '') + catalogueLabel(s.catalogue);
      o.title = s.path;
      select.appendChild(o);
    });
    if (!select.options.length) {
      var o = document.createElement('option');
      o.value = '';
      o.textContent = 'no streams listed';
      select.appendChild(o);
    }
  }

  function start() {
    var params = readParams();
    fetch('/api/streams', { headers: { accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (body) {
        var streams = body && Array.isArray(body.streams) ? body.streams : [];
        fillStreams(streams);
        var src = params.src || (streams[0] && streams[0].path);
        if (src) load(src, params.level);
        else notice('No streams listed by /api/streams — enter a playlist URL above.');
      })
      .catch(function (err) {
        fillStreams([]);
        if (params.src) load(params.src, params.level);
        else notice('Could not list streams — enter a playlist URL above.');
        recordError({ source: 'page', type: 'streamList', details: 'apiStreamsFailed', fatal: false,
                      url: '/api/streams', message: String(err && err.message || err) });
      });
  }

  renderErrors();
  renderLevelButtons();
  start();
})();
