/* The report's own behaviour: histogram, sorting, filtering, the larger view and flags.
   Everything works on the page's own markup; without this script the page shows it all. */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function drawHistogram() {
    var target = byId("distance-histogram");
    var source = byId("histogram-data");
    if (!target || !source || typeof Plotly === "undefined") {
      return;
    }
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d"]
    });
  }

  var table = byId("ranking");
  var body = table.tBodies[0];
  var rows = Array.prototype.map.call(body.rows, function (tr) {
    return {
      el: tr,
      rank: Number(tr.dataset.rank),
      path: tr.dataset.path,
      lowerPath: tr.dataset.path.toLowerCase(),
      distance: Number(tr.dataset.distance),
      cluster: Number(tr.dataset.cluster),
      flag: tr.querySelector("input.flag")
    };
  });
  var byRank = rows.slice().sort(function (a, b) { return a.rank - b.rank; });
  var rowByRank = {};
  byRank.forEach(function (row) { rowByRank[row.rank] = row; });

  /* Sorting: a click on a column heading sorts by it, a second click reverses. */
  var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-sort]"));
  var collator = new Intl.Collator(undefined, { numeric: true });

  function sortBy(key, descending) {
    var sign = descending ? -1 : 1;
    var sorted = rows.slice().sort(function (a, b) {
      var order = key === "path" ? collator.compare(a.path, b.path) : a[key] - b[key];
      return order !== 0 ? sign * order : a.rank - b.rank;
    });
    var fragment = document.createDocumentFragment();
    sorted.forEach(function (row) { fragment.appendChild(row.el); });
    body.appendChild(fragment);
    headers.forEach(function (th) {
      if (th.dataset.sort === key) {
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  headers.forEach(function (th) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    button.title = "Sort by " + th.textContent.toLowerCase();
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      sortBy(th.dataset.sort, th.getAttribute("aria-sort") === "ascending");
    });
  });

  /* Filtering by path text and by cluster. */
  var pathFilter = byId("path-filter");
  var clusterFilter = byId("cluster-filter");
  var shownCount = byId("shown-count");

  function applyFilters() {
    var text = pathFilter.value.trim().toLowerCase();
    var cluster = clusterFilter.value === "" ? 0 : Number(clusterFilter.value);
    var shown = 0;
    rows.forEach(function (row) {
      var visible = (cluster === 0 || row.cluster === cluster) &&
        (text === "" || row.lowerPath.indexOf(text) !== -1);
      if (row.el.hidden === visible) {
        row.el.hidden = !visible;
      }
      shown += visible ? 1 : 0;
    });
    shownCount.textContent = shown === rows.length
      ? rows.length + " images" : shown + " of " + rows.length + " images shown";
  }
  pathFilter.addEventListener("input", applyFilters);
  clusterFilter.addEventListener("change", applyFilters);

  /* Flags: kept while the page is open, downloadable as a file made here. */
  var flagCount = byId("flag-count");
  var downloadText = byId("download-flags-txt");
  var downloadCsv = byId("download-flags-csv");

  function flaggedRows() {
    return byRank.filter(function (row) { return row.flag.checked; });
  }

  function updateFlags() {
    var count = flaggedRows().length;
    flagCount.textContent = count + " flagged";
    downloadText.disabled = count === 0;
    downloadCsv.disabled = count === 0;
  }

  function csvCell(value) {
    var text = String(value);
    if (/^[=+\-@\t\r]/.test(text)) {
      text = "'" + text;
    }
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function download(name, type, text) {
    var url = URL.createObjectURL(new Blob([text], { type: type }));
    var link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  body.addEventListener("change", function (event) {
    if (event.target.classList.contains("flag")) {
      updateFlags();
    }
  });
  downloadText.addEventListener("click", function () {
    var lines = flaggedRows().map(function (row) { return row.path; });
    download("flagged.txt", "text/plain;charset=utf-8", lines.join("\n") + "\n");
  });
  downloadCsv.addEventListener("click", function () {
    var lines = ["rank,path,distance,cluster"].concat(flaggedRows().map(function (row) {
      return [row.rank, csvCell(row.path), row.distance, row.cluster].join(",");
    }));
    download("flagged.csv", "text/csv;charset=utf-8", lines.join("\n") + "\n");
  });

  /* The larger view: a modal dialog that steps through the ranking with the arrow keys. */
  var viewer = byId("viewer");
  var viewerImage = byId("viewer-image");
  var viewerFlag = byId("viewer-flag");
  var viewerOriginal = byId("viewer-original");
  var current = null;
  var opener = null;
  var distanceFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

  function thumbnailSource(row) {
    var thumb = row.el.querySelector(".thumb");
    var match = /url\("?(.*?)"?\)$/.exec(getComputedStyle(thumb).backgroundImage);
    return match ? match[1] : "";
  }

  function show(row) {
    if (current) {
      current.el.classList.remove("current");
    }
    current = row;
    row.el.classList.add("current");
    viewerImage.src = thumbnailSource(row);
    viewerImage.alt = row.path;
    byId("viewer-path").textContent = row.path;
    byId("viewer-rank").textContent = row.rank + " of " + rows.length;
    byId("viewer-distance").textContent = distanceFormat.format(row.distance);
    byId("viewer-cluster").textContent = String(row.cluster);
    viewerFlag.checked = row.flag.checked;
    var href = row.el.dataset.href;
    viewerOriginal.hidden = !href;
    if (href) {
      viewerOriginal.setAttribute("href", href);
    } else {
      viewerOriginal.removeAttribute("href");
    }
    byId("viewer-previous").disabled = row.rank === 1;
    byId("viewer-next").disabled = row.rank === rows.length;
  }

  function step(offset) {
    var next = current && rowByRank[current.rank + offset];
    if (next) {
      show(next);
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.open");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    var row = rowByRank[Number(link.dataset.rank)];
    if (!row) {
      return;
    }
    event.preventDefault();
    opener = link;
    show(row);
    if (!viewer.open) {
      viewer.showModal();
    }
    byId("viewer-close").focus();
  });
  viewer.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight" || event.key === "ArrowDown") {
      step(1);
      event.preventDefault();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      step(-1);
      event.preventDefault();
    }
  });
  viewer.addEventListener("click", function (event) {
    if (event.target === viewer) {
      viewer.close();
    }
  });
  viewer.addEventListener("close", function () {
    if (current) {
      current.el.classList.remove("current");
    }
    if (opener) {
      opener.focus();
    }
  });
  byId("viewer-previous").addEventListener("click", function () { step(-1); });
  byId("viewer-next").addEventListener("click", function () { step(1); });
  byId("viewer-close").addEventListener("click", function () { viewer.close(); });
  viewerFlag.addEventListener("change", function () {
    if (current) {
      current.flag.checked = viewerFlag.checked;
      updateFlags();
    }
  });

  applyFilters();
  updateFlags();
  drawHistogram();
})();
