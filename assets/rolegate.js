// rolegate pages: progressive enhancement only. Every action works without this file: search
// falls back to a GET form, favourites and actions are plain POSTs, credentials are plain text.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  // --- Expiries: local time and time left --------------------------------------------------
  // The server writes the UTC instant (it cannot know the browser's time zone); this rewrites
  // the text to local time and what is left ("11:58, 59 min left"), every 15 seconds.
  var times = Array.prototype.slice.call(document.querySelectorAll('time[data-expiry]'));
  var left = function (ms) {
    if (ms <= 0) { return 'expired'; }
    var m = Math.ceil(ms / 60000);
    if (m < 60) { return m + ' min left'; }
    var h = Math.floor(m / 60);
    m = m % 60;
    return h + ' h' + (m ? ' ' + m + ' min' : '') + ' left';
  };
  var tick = function () {
    var now = new Date();
    times.forEach(function (t) {
      var iso = t.getAttribute('datetime');
      var at = new Date(iso);
      if (isNaN(at.getTime())) { return; }
      var clock = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      if (at.toDateString() !== now.toDateString()) {
        clock = at.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' }) + ' ' + clock;
      }
      t.textContent = clock + ', ' + left(at - now);
      t.title = iso.replace('T', ' ').replace('Z', ' UTC');
      t.classList.toggle('expired', at <= now);
    });
  };
  if (times.length) {
    tick();
    setInterval(tick, 15000);
  }

  // --- Role picker: accounts collapse on a phone ---------------------------------------------
  // Every account is open in the HTML (readable without script); on a narrow screen, with
  // more than one account, they start collapsed to their headings. Favourites stay open.
  var accounts = Array.prototype.slice.call(document.querySelectorAll('section.account:not(.favourites) > details'));
  var narrow = window.matchMedia ? window.matchMedia('(max-width: 600px)') : null;
  var layout = function () {
    var collapse = narrow && narrow.matches && accounts.length > 1;
    accounts.forEach(function (d) { d.open = !collapse; });
  };
  if (accounts.length) {
    layout();
    if (narrow && narrow.addEventListener) { narrow.addEventListener('change', layout); }
  }

  // --- Role picker: filter as you type -------------------------------------------------------
  var q = document.getElementById('q');
  var count = document.getElementById('count');
  var form = document.getElementById('roles');
  if (q && count && form) {
    var rows = Array.prototype.map.call(document.querySelectorAll('.roles > li'), function (li) {
      var section = li.closest('section');
      var head = section.querySelector('h2');
      return {
        li: li,
        section: section,
        fav: section.classList.contains('favourites'),
        text: (li.querySelector('b').textContent + ' ' + li.querySelector('small').textContent +
               ' ' + (section.classList.contains('favourites') ? '' : head.textContent)).toLowerCase()
      };
    });
    var total = rows.filter(function (r) { return !r.fav; }).length;
    var hiddenQ = form.querySelector('input[name=q]');
    var apply = function () {
      var terms = q.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (r) {
        var hit = terms.every(function (t) { return r.text.indexOf(t) >= 0; });
        r.li.hidden = !hit;
        if (hit && !r.fav) { shown++; }
      });
      document.querySelectorAll('section.account').forEach(function (s) {
        s.hidden = !s.querySelector('.roles > li:not([hidden])');
      });
      // A search opens the accounts it found roles in (collapsed on a phone otherwise).
      if (terms.length) {
        accounts.forEach(function (d) { d.open = true; });
      } else {
        layout();
      }
      count.textContent = shown + ' of ' + total + ' roles';
      if (hiddenQ) { hiddenQ.value = q.value.trim(); }
    };
    q.addEventListener('input', apply);
    q.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { q.value = ''; apply(); }
    });
    // "/" jumps to the search box, as on GitHub and Gmail.
    document.addEventListener('keydown', function (e) {
      var t = e.target.tagName;
      if (e.key === '/' && t !== 'INPUT' && t !== 'SELECT' && t !== 'TEXTAREA') {
        e.preventDefault();
        q.focus();
        q.select();
      }
    });
    if (q.value.trim()) { apply(); }
  }

  // --- Credentials page: copy buttons ----------------------------------------------------------
  document.querySelectorAll('button.copy').forEach(function (b) {
    var pre = document.getElementById(b.getAttribute('data-copy'));
    if (!pre || !navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener('click', function () {
      navigator.clipboard.writeText(pre.textContent).then(function () {
        b.textContent = 'Copied';
        setTimeout(function () { b.textContent = 'Copy'; }, 2000);
      }, function () {
        b.textContent = 'Select and copy by hand';
      });
    });
  });
})();
