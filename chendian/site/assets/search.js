/* chendian site search: works from file:// and any static host (the index is a <script>, not fetched JSON).
 *
 * Ranking: BM25 over Chinese character bigrams and unigrams (and whole Latin words) of folded text
 * (NFKC full-width → half-width, lower case, traditional → simplified with the map the builder shipped),
 * questions and their variants weighted above answers. Served by `chendian serve`, it asks the hybrid
 * API (/api/search) first for the ranking and falls back to the local index on any failure.
 *
 * Chat text is only ever put into the page with textContent / text nodes, never innerHTML.
 */
(function () {
  "use strict";
  var INDEX = window.CHENDIAN_INDEX || { docs: [], t2s: "" };
  var K1 = 1.2, B = 0.75, TITLE_WEIGHT = 2.0, BODY_WEIGHT = 1.0, UNIGRAM_WEIGHT = 0.35, LIMIT = 20;
  var API_TIMEOUT_MS = 2500;

  var T2S = Object.create(null);
  for (var i = 0; i + 1 < INDEX.t2s.length; i += 2) T2S[INDEX.t2s[i]] = INDEX.t2s[i + 1];

  var HAN = /\p{Script=Han}/u;
  var WORD = /[\p{L}\p{N}]/u;

  function fold(text) {
    var s = String(text || "").normalize("NFKC").toLowerCase();
    var out = "";
    for (var ch of s) out += T2S[ch] || ch;
    return out;
  }

  // Terms with weights: "b:" bigrams and "u:" unigrams of Han runs, "w:" Latin/digit words.
  function terms(folded) {
    var out = [];
    var chars = Array.from(folded);
    var word = "";
    for (var i = 0; i < chars.length; i++) {
      var c = chars[i];
      if (HAN.test(c)) {
        if (word) { out.push("w:" + word); word = ""; }
        out.push("u:" + c);
        if (i + 1 < chars.length && HAN.test(chars[i + 1])) out.push("b:" + c + chars[i + 1]);
      } else if (WORD.test(c)) {
        word += c;
      } else if (word) {
        out.push("w:" + word); word = "";
      }
    }
    if (word) out.push("w:" + word);
    return out;
  }

  function termWeight(t) { return t.charCodeAt(0) === 117 /* u */ ? UNIGRAM_WEIGHT : 1.0; }

  // One BM25 field: term → [doc, tf, doc, tf, …], plus document lengths.
  function Field() { this.post = new Map(); this.len = []; this.total = 0; }
  Field.prototype.add = function (doc, ts) {
    var counts = new Map();
    for (var t of ts) counts.set(t, (counts.get(t) || 0) + 1);
    for (var [t, n] of counts) {
      var p = this.post.get(t);
      if (!p) this.post.set(t, p = []);
      p.push(doc, n);
    }
    this.len[doc] = ts.length;
    this.total += ts.length;
  };
  Field.prototype.score = function (qterms, scores, weight, ndocs) {
    var avg = this.total / Math.max(1, ndocs) || 1;
    for (var t of qterms) {
      var p = this.post.get(t);
      if (!p) continue;
      var df = p.length / 2;
      var idf = Math.log(1 + (ndocs - df + 0.5) / (df + 0.5));
      var w = weight * idf * termWeight(t);
      for (var i = 0; i < p.length; i += 2) {
        var d = p[i], tf = p[i + 1];
        var s = w * tf * (K1 + 1) / (tf + K1 * (1 - B + B * this.len[d] / avg));
        scores.set(d, (scores.get(d) || 0) + s);
      }
    }
  };

  var title = new Field(), body = new Field();
  var docs = INDEX.docs;
  var byId = new Map();
  for (var d = 0; d < docs.length; d++) {
    var doc = docs[d];
    byId.set(doc.i, doc);
    title.add(d, terms(fold([doc.q].concat(doc.v || []).join("\n"))));
    body.add(d, terms(fold(doc.a)));
  }

  // Milliseconds since navigation when the index was ready (read by bench/bench_site.py).
  document.documentElement.dataset.indexMs = String(Math.round(performance.now()));

  function searchLocal(query, k) {
    var qterms = Array.from(new Set(terms(fold(query))));
    if (!qterms.length) return [];
    var scores = new Map();
    title.score(qterms, scores, TITLE_WEIGHT, docs.length);
    body.score(qterms, scores, BODY_WEIGHT, docs.length);
    var ranked = Array.from(scores.entries()).map(function (e) {
      // a light prior for questions asked many times breaks near-ties
      return [e[0], e[1] * (1 + 0.03 * Math.log(1 + (docs[e[0]].n || 1)))];
    });
    ranked.sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
    return ranked.slice(0, k).map(function (e) {
      var doc = docs[e[0]];
      return { id: doc.i, question: doc.q, answer: doc.a, url: doc.u, count: doc.n, score: e[1] };
    });
  }

  // -- hybrid API (only when served over http(s)) -------------------------------------------------------
  var apiBroken = !/^https?:$/.test(location.protocol);

  // The API ranks; what is shown comes from this site's own index, so that an entry the site does not
  // publish (hidden, recalled) never appears, and every text shown went through the site's privacy masking.
  function searchApi(query, k) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, API_TIMEOUT_MS);
    return fetch("/api/search?q=" + encodeURIComponent(query) + "&k=" + k, ctrl ? { signal: ctrl.signal } : {})
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        var hits = data && (Array.isArray(data.results) ? data.results : Array.isArray(data.hits) ? data.hits : null);
        if (!hits) throw new Error("unexpected answer");
        var seen = new Set(), out = [];
        hits.forEach(function (h) {
          var doc = h && byId.get(String(h.id));
          if (!doc || seen.has(doc.i)) return;
          seen.add(doc.i);
          out.push({ id: doc.i, question: doc.q, answer: doc.a, url: doc.u, count: doc.n, score: Number(h.score) || 0 });
        });
        if (!out.length) {
          var miss = new Error("no published entry among the API's hits");
          miss.keepApi = true;  // the API works; this query alone falls back
          throw miss;
        }
        return out;
      })
      .finally(function () { clearTimeout(timer); });
  }

  function search(query, k) {
    if (apiBroken) return Promise.resolve({ results: searchLocal(query, k), source: "local" });
    return searchApi(query, k)
      .then(function (results) { return { results: results, source: "api" }; })
      .catch(function (err) {
        if (!(err && err.keepApi)) apiBroken = true;  // a static host has no API: stop asking for this visit
        return { results: searchLocal(query, k), source: "local" };
      });
  }

  // -- rendering (text nodes only) ------------------------------------------------------------------------
  function highlight(el, text, query) {
    var qchars = new Set(Array.from(fold(query)).filter(function (c) { return WORD.test(c); }));
    var chars = Array.from(text);
    var hit = chars.map(function (c) { return qchars.has(fold(c)); });
    var i = 0;
    while (i < chars.length) {
      var j = i;
      while (j < chars.length && hit[j] === hit[i]) j++;
      var piece = chars.slice(i, j).join("");
      // single matching characters are noise (的, 是); runs of two or more are what the reader typed
      if (hit[i] && j - i >= 2) {
        var m = document.createElement("mark");
        m.textContent = piece;
        el.appendChild(m);
      } else {
        el.appendChild(document.createTextNode(piece));
      }
      i = j;
    }
  }

  function snippet(text, n) {
    text = String(text || "").replace(/\s+/g, " ").trim();
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  var form = document.getElementById("search-form");
  var input = document.getElementById("search-input");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!input || !list) return;

  var seq = 0;
  function run(query) {
    var mine = ++seq;
    query = query.trim();
    if (!query) {
      list.replaceChildren();
      status.textContent = docs.length + " 个问题可搜索。";
      return;
    }
    search(query, LIMIT).then(function (out) {
      if (mine !== seq) return;  // a newer query is on its way
      var items = out.results.map(function (r) {
        var li = document.createElement("li");
        var head = r.url ? document.createElement("a") : document.createElement("span");
        head.className = "entry-q";
        if (r.url) head.href = r.url;
        highlight(head, r.question, query);
        li.appendChild(head);
        if (r.count > 1) {
          var badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = "问过 " + r.count + " 次";
          li.appendChild(document.createTextNode(" "));
          li.appendChild(badge);
        }
        if (r.answer) {
          var p = document.createElement("p");
          p.className = "snippet";
          p.textContent = snippet(r.answer, 140);
          li.appendChild(p);
        }
        return li;
      });
      list.replaceChildren.apply(list, items);
      list.dataset.source = out.source;
      status.textContent = items.length ? "找到 " + items.length + " 个相关问题" + (out.source === "api" ? "（语义搜索）" : "")
                                        : "没有找到相关问题，换个说法试试？";
      document.documentElement.dataset.searchMs = String(Math.round(performance.now()));
      document.documentElement.dataset.searchDone = String(mine);
    });
  }

  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { run(input.value); }, 120);
  });
  if (form) form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    try { history.replaceState(null, "", "?q=" + encodeURIComponent(input.value)); } catch (e) { /* file:// */ }
    run(input.value);
  });
  window.CHENDIAN_SEARCH = searchLocal;  // for timing and debugging from the console
  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  run(initial);
})();
