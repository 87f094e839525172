// rolegate pages: progressive enhancement only. Every action works without this file: search
// falls back to a GET form, favourites and actions are plain POSTs, credentials are plain text.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

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
    if (q.value) { apply(); }
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
