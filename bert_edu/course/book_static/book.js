// bert-edu book: offline search, copy buttons, keyboard shortcuts. Written for this book; no library.
(function () {
  "use strict";

  // ---- search: window.BOOK_SEARCH (from _static/search-index.js) holds every page's sections
  var box = document.getElementById("search-box");
  var list = document.getElementById("search-results");
  var index = window.BOOK_SEARCH || [];

  function escapeHtml(s) {
    return s.replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }

  function snippet(text, word) {
    var at = text.toLowerCase().indexOf(word);
    var start = Math.max(0, at - 60);
    var piece = (start > 0 ? "…" : "") + text.slice(start, at + word.length + 80) + "…";
    var safe = escapeHtml(piece);
    var re = new RegExp("(" + word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")", "ig");
    return safe.replace(re, "<mark>$1</mark>");
  }

  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    var hits = [];
    index.forEach(function (page) {
      page.s.forEach(function (section) {
        var hay = (section.h + " " + section.x).toLowerCase();
        var score = 0;
        for (var i = 0; i < words.length; i++) {
          var n = hay.split(words[i]).length - 1;
          if (!n) return;
          score += n + (section.h.toLowerCase().indexOf(words[i]) >= 0 ? 10 : 0);
        }
        hits.push({ page: page, section: section, score: score });
      });
    });
    hits.sort(function (a, b) { return b.score - a.score; });
    return hits.slice(0, 30).map(function (hit) { hit.word = words[0]; return hit; });
  }

  function show(hits, query) {
    list.innerHTML = "";
    if (!query) return;
    if (!hits.length) {
      var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
      list.innerHTML = '<li><span class="snippet">' + (zh ? "没有找到“" + escapeHtml(query) + "”。" :
        "Nothing found for “" + escapeHtml(query) + "”.") + "</span></li>";
      return;
    }
    hits.forEach(function (hit) {
      var li = document.createElement("li");
      var href = hit.page.p + (hit.section.a ? "#" + hit.section.a : "");
      var text = hit.section.h + " " + hit.section.x;
      li.innerHTML = '<a href="' + escapeHtml(href) + '"><span class="where">' + escapeHtml(hit.page.t) +
        (hit.section.h && hit.section.h !== hit.page.t ? " › " + escapeHtml(hit.section.h) : "") +
        '</span><span class="snippet">' + snippet(text, hit.word) + "</span></a>";
      list.appendChild(li);
    });
  }

  if (box && list) {
    box.addEventListener("input", function () { show(search(box.value), box.value.trim()); });
    box.addEventListener("keydown", function (e) {
      var first = list.querySelector("a");
      if (e.key === "ArrowDown" && first) { e.preventDefault(); first.focus(); }
      if (e.key === "Escape") { box.value = ""; show([], ""); }
    });
    list.addEventListener("keydown", function (e) {
      var links = Array.prototype.slice.call(list.querySelectorAll("a"));
      var i = links.indexOf(document.activeElement);
      if (e.key === "ArrowDown" && i < links.length - 1) { e.preventDefault(); links[i + 1].focus(); }
      if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? links[i - 1] : box).focus(); }
      if (e.key === "Escape") { box.focus(); }
    });
  }

  // ---- keyboard: "/" focuses the search box; Alt+Left / Alt+Right: previous / next page
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing && box) { e.preventDefault(); box.focus(); }
    if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      var link = document.querySelector('.book-prevnext a[rel="' + (e.key === "ArrowLeft" ? "prev" : "next") + '"]');
      if (link) { e.preventDefault(); window.location.href = link.href; }
    }
  });

  // ---- a copy button on every code cell
  function copyText(text, button) {
    function done(ok) {
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
    } else {
      done(fallback(text));
    }
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  Array.prototype.forEach.call(document.querySelectorAll(".jp-CodeCell .jp-InputArea"), function (area) {
    var code = area.querySelector("pre");
    if (!code) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "book-copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy this code cell");
    button.addEventListener("click", function () { copyText(code.innerText, button); });
    area.appendChild(button);
  });
})();
