/* The report's own behaviour: plots, sorting, filtering, the larger view and flags.
   The ranking is drawn as a window of rows around what is in view, so sorting and filtering
   cost the same with a hundred rows or a hundred thousand. In the full layout the rows come
   from the page itself (and are reused); in the large layout they are made from embedded data. */
(function () {
  "use strict";

  var ROW_HEIGHT = 48;
  var OVERSCAN = 10;

  function byId(id) {
    return document.getElementById(id);
  }

  var PLOT_OPTIONS = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d"]
  };

  /* Draws the figure embedded as JSON in ``sourceId``; returns the plot element, or null. */
  function drawFigure(targetId, sourceId) {
    var target = byId(targetId);
    var source = byId(sourceId);
    if (!target || !source || typeof Plotly === "undefined") {
      return null;
    }
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, PLOT_OPTIONS);
    return target;
  }

  var table = byId("ranking");
  var body = table.tBodies[0];
  var dataNode = byId("ranking-data");
  var data = dataNode ? JSON.parse(dataNode.textContent) : null;
  var rows;

  if (data) {
    rows = data.paths.map(function (path, i) {
      return {
        rank: i + 1, path: path, lowerPath: path.toLowerCase(), distance: data.distances[i],
        cluster: data.clusters[i], anchor: data.anchors[i],
        index: i in data.embedded ? data.embedded[i] : -1,
        pathOrder: data.pathOrder[i], href: data.hrefs ? data.hrefs[i] : null,
        flagged: false, el: null
      };
    });
  } else {
    rows = Array.prototype.map.call(body.rows, function (tr) {
      var path = tr.querySelector("td.path").textContent;
      return {
        rank: Number(tr.dataset.rank), path: path,
        lowerPath: path.toLowerCase(), distance: Number(tr.dataset.distance),
        cluster: Number(tr.dataset.cluster), anchor: tr.id, index: Number(tr.dataset.index),
        pathOrder: Number(tr.dataset.pathOrder), href: tr.dataset.href || null,
        flagged: false, el: tr, flagInput: tr.querySelector("input.flag")
      };
    });
  }
  var byRank = rows.slice().sort(function (a, b) { return a.rank - b.rank; });
  var byAnchor = {};
  rows.forEach(function (row) { byAnchor[row.anchor] = row; });

  /* The current view: the rows that pass the filters, in the chosen order. */
  var sortKey = "rank";
  var descending = false;
  var view = byRank.slice();
  var pathFilter = byId("path-filter");
  var clusterFilter = byId("cluster-filter");
  var shownCount = byId("shown-count");

  function computeView() {
    var text = pathFilter.value.trim().toLowerCase();
    var cluster = clusterFilter.value === "" ? 0 : Number(clusterFilter.value);
    var key = sortKey === "path" ? "pathOrder" : sortKey;
    var sign = descending ? -1 : 1;
    var sorted = byRank.slice().sort(function (a, b) {
      var order = a[key] - b[key];
      return order !== 0 ? sign * order : a.rank - b.rank;
    });
    view = sorted.filter(function (row) {
      return (cluster === 0 || row.cluster === cluster) &&
        (text === "" || row.lowerPath.indexOf(text) !== -1);
    });
    shownCount.textContent = view.length === rows.length
      ? rows.length + " images" : view.length + " of " + rows.length + " images shown";
  }

  /* Draw only the rows in and near the scrolled window. */
  var scroller = byId("ranking-scroller");
  var drawn = { first: -1, last: -1 };
  var pending = false;

  function thumbnailElement(row) {
    var span = document.createElement("span");
    span.className = "thumb";
    span.setAttribute("role", "img");
    span.setAttribute("aria-label", row.path);
    if (data.thumbnails === "files") {
      span.style.backgroundImage = 'url("' + data.thumbnailFolder + row.anchor + "." +
        data.thumbnailFormat + '")';
    } else if (row.index >= 0) {
      span.classList.add("t" + row.index);
    } else {
      span.classList.add("no-thumb");
    }
    return span;
  }

  function cell(content) {
    var td = document.createElement("td");
    if (typeof content === "string") {
      td.textContent = content;
    } else if (content) {
      td.appendChild(content);
    }
    return td;
  }

  function makeRow(row) {
    var tr = document.createElement("tr");
    tr.id = row.anchor;
    if (current === row) {
      tr.className = "current";
    }
    var flag = document.createElement("input");
    flag.type = "checkbox";
    flag.className = "flag";
    flag.checked = row.flagged;
    flag.setAttribute("aria-label", "Flag " + row.path);
    flag.dataset.rank = row.rank;
    var open = document.createElement("a");
    open.className = "open";
    open.href = "#" + row.anchor;
    open.dataset.rank = row.rank;
    open.appendChild(thumbnailElement(row));
    var cluster = document.createElement("a");
    cluster.href = "#cluster-" + row.cluster;
    cluster.textContent = String(row.cluster);
    var pathCell = cell(row.path);
    pathCell.className = "path";
    var distanceCell = cell(distanceFormat.format(row.distance));
    distanceCell.className = "num";
    [cell(flag), cell(String(row.rank)), cell(open), pathCell, distanceCell, cell(cluster)]
      .forEach(function (td) { tr.appendChild(td); });
    return tr;
  }

  function spacer(height) {
    var tr = document.createElement("tr");
    tr.className = "spacer";
    tr.setAttribute("aria-hidden", "true");
    var td = document.createElement("td");
    td.colSpan = 6;
    td.style.height = height + "px";
    tr.appendChild(td);
    return tr;
  }

  function renderWindow(force) {
    pending = false;
    var top = scroller.scrollTop;
    var last = Math.min(view.length,
      Math.ceil((top + scroller.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    var first = Math.min(Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN), last);
    if (!force && first === drawn.first && last === drawn.last) {
      return;
    }
    drawn = { first: first, last: last };
    var fragment = document.createDocumentFragment();
    fragment.appendChild(spacer(first * ROW_HEIGHT));
    for (var i = first; i < last; i += 1) {
      fragment.appendChild(view[i].el || makeRow(view[i]));
    }
    fragment.appendChild(spacer((view.length - last) * ROW_HEIGHT));
    body.textContent = "";
    body.appendChild(fragment);
  }

  function scheduleWindow() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(function () { renderWindow(false); });
    }
  }

  function refresh() {
    computeView();
    scroller.scrollTop = 0;
    renderWindow(true);
  }

  function scrollToRow(row) {
    var position = view.indexOf(row);
    if (position === -1) {
      pathFilter.value = "";
      clusterFilter.value = "";
      refresh();
      position = view.indexOf(row);
    }
    scroller.scrollTop = Math.max(0, position * ROW_HEIGHT - scroller.clientHeight / 3);
    renderWindow(true);
    scroller.scrollIntoView({ block: "start" });
  }

  /* Sorting: a click on a column heading sorts by it, a second click reverses. */
  var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-sort]"));
  headers.forEach(function (th) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    button.title = "Sort by " + th.textContent.toLowerCase();
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      descending = th.getAttribute("aria-sort") === "ascending";
      sortKey = th.dataset.sort;
      headers.forEach(function (other) {
        if (other === th) {
          other.setAttribute("aria-sort", descending ? "descending" : "ascending");
        } else {
          other.removeAttribute("aria-sort");
        }
      });
      refresh();
    });
  });
  pathFilter.addEventListener("input", refresh);
  clusterFilter.addEventListener("change", refresh);
  scroller.addEventListener("scroll", scheduleWindow, { passive: true });
  window.addEventListener("resize", scheduleWindow);
  /* On paper there is no window: print every row of the current view (full layout only). */
  window.addEventListener("beforeprint", function () {
    if (!data) {
      var fragment = document.createDocumentFragment();
      view.forEach(function (row) { fragment.appendChild(row.el); });
      body.textContent = "";
      body.appendChild(fragment);
    }
  });
  window.addEventListener("afterprint", function () { renderWindow(true); });

  /* Flags: kept while the page is open, downloadable as a file made here. */
  var flagCount = byId("flag-count");
  var downloadText = byId("download-flags-txt");
  var downloadCsv = byId("download-flags-csv");

  function flaggedRows() {
    return byRank.filter(function (row) { return row.flagged; });
  }

  function updateFlagCount() {
    var count = flaggedRows().length;
    flagCount.textContent = count + " flagged";
    downloadText.disabled = count === 0;
    downloadCsv.disabled = count === 0;
  }

  function setFlag(row, flagged) {
    row.flagged = flagged;
    var drawnRow = byId(row.anchor);
    var input = row.flagInput || (drawnRow && drawnRow.querySelector("input.flag"));
    if (input) {
      input.checked = flagged;
    }
    updateFlagCount();
  }

  function csvCell(value) {
    var text = String(value);
    if (/^[=+\-@\t\r']/.test(text)) {
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
    var input = event.target;
    if (input.classList.contains("flag")) {
      var row = data ? byRank[Number(input.dataset.rank) - 1]
        : byAnchor[input.closest("tr").id];
      setFlag(row, input.checked);
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
    download("flagged.csv", "text/csv;charset=utf-8", lines.join("\r\n") + "\r\n");
  });

  /* The larger view: a modal dialog that steps through the ranking with the arrow keys. */
  var viewer = byId("viewer");
  var viewerImage = byId("viewer-image");
  var viewerFlag = byId("viewer-flag");
  var viewerOriginal = byId("viewer-original");
  var viewerMissing = byId("viewer-missing");
  var current = null;
  var opener = null;
  var distanceFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

  /* A fresh element showing the row's thumbnail, wherever the row itself is drawn. */
  function thumbnailCopy(row) {
    return row.el ? row.el.querySelector(".thumb").cloneNode(false) : thumbnailElement(row);
  }

  /* The thumbnail's address, read from the style a detached copy of its element gets. */
  function thumbnailSource(row) {
    var probe = thumbnailCopy(row);
    probe.hidden = true;
    document.body.appendChild(probe);
    var match = /url\("?(.*?)"?\)$/.exec(getComputedStyle(probe).backgroundImage);
    probe.remove();
    return match ? match[1] : "";
  }

  function markCurrent(row) {
    var old = current && byId(current.anchor);
    if (old) {
      old.classList.remove("current");
    }
    current = row;
    var now = row && byId(row.anchor);
    if (now && now.tagName === "TR") {
      now.classList.add("current");
    }
  }

  function show(row) {
    markCurrent(row);
    var source = thumbnailSource(row);
    viewerImage.hidden = !source;
    viewerMissing.hidden = !!source;
    if (source) {
      viewerImage.src = source;
    } else {
      viewerImage.removeAttribute("src");
    }
    viewerImage.alt = row.path;
    byId("viewer-path").textContent = row.path;
    byId("viewer-rank").textContent = row.rank + " of " + rows.length;
    byId("viewer-distance").textContent = distanceFormat.format(row.distance);
    byId("viewer-cluster").textContent = String(row.cluster);
    viewerFlag.checked = row.flagged;
    viewerOriginal.hidden = !row.href;
    if (row.href) {
      viewerOriginal.setAttribute("href", row.href);
    } else {
      viewerOriginal.removeAttribute("href");
    }
    byId("viewer-previous").disabled = row.rank === 1;
    byId("viewer-next").disabled = row.rank === rows.length;
  }

  function step(offset) {
    var next = current && byRank[current.rank - 1 + offset];
    if (next) {
      show(next);
    }
  }

  function openViewer(row, from) {
    opener = from;
    show(row);
    if (!viewer.open) {
      viewer.showModal();
    }
    byId("viewer-close").focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.open");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    var row = byRank[Number(link.dataset.rank) - 1];
    if (!row) {
      return;
    }
    event.preventDefault();
    openViewer(row, link);
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
    markCurrent(null);
    if (opener && opener.isConnected) {
      opener.focus();
    }
  });
  byId("viewer-previous").addEventListener("click", function () { step(-1); });
  byId("viewer-next").addEventListener("click", function () { step(1); });
  byId("viewer-close").addEventListener("click", function () { viewer.close(); });
  viewerFlag.addEventListener("change", function () {
    if (current) {
      setFlag(current, viewerFlag.checked);
    }
  });

  /* Deep links to an image: in the large layout its row is drawn on demand. */
  function followHash() {
    var anchor;
    try {
      anchor = decodeURIComponent(location.hash.slice(1));
    } catch (error) {
      return;  // a malformed link names no image
    }
    var row = byAnchor[anchor];
    if (row) {
      scrollToRow(row);
    }
  }
  window.addEventListener("hashchange", followHash);

  /* Plot points carry their rank: a click opens the larger view. */
  function openOnClick(plot) {
    plot.on("plotly_click", function (event) {
      var row = event.points.length && byRank[event.points[0].customdata - 1];
      if (row) {
        openViewer(row, plot);
      }
    });
  }

  /* The map of principal components, coloured by the grouping chosen, thumbnails on hover. */
  function drawMap() {
    var target = byId("component-map");
    var source = byId("map-data");
    if (!target || !source || typeof Plotly === "undefined") {
      return;
    }
    var map = JSON.parse(source.textContent);
    var layout = {
      xaxis: { title: { text: map.axes[0] }, zeroline: false },
      yaxis: { title: { text: map.axes[1] }, zeroline: false },
      height: 480,
      margin: { l: 60, r: 20, t: 20, b: 50 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: "#868e96" },
      legend: { title: { text: "cluster" } }
    };

    function traces(grouping) {
      var labels = map.groupings[grouping].labels;
      var members = {};
      labels.forEach(function (label, i) {
        (members[label] = members[label] || []).push(i);
      });
      return Object.keys(members).map(Number).sort(function (a, b) { return a - b; })
        .map(function (label) {
          var points = members[label];
          function pick(values) {
            return points.map(function (i) { return values[i]; });
          }
          return {
            type: "scatter", mode: "markers", name: "cluster " + label,
            x: pick(map.x), y: pick(map.y), text: pick(map.text), customdata: pick(map.ranks),
            hovertemplate: "%{text}<extra>cluster " + label + "</extra>",
            marker: { color: map.colours[(label - 1) % map.colours.length], size: 6,
                      opacity: 0.75 }
          };
        });
    }

    var select = byId("map-grouping");
    Plotly.newPlot(target, traces(Number(select.value)), layout, PLOT_OPTIONS);
    select.addEventListener("change", function () {
      Plotly.react(target, traces(Number(select.value)), layout, PLOT_OPTIONS);
    });
    openOnClick(target);

    var hover = byId("map-hover");
    target.on("plotly_hover", function (event) {
      var point = event.points[0];
      var row = point && byRank[point.customdata - 1];
      if (!row) {
        return;
      }
      hover.replaceChild(thumbnailCopy(row), hover.firstElementChild);
      var mouse = event.event;
      hover.style.left = Math.min(mouse.clientX + 16, window.innerWidth - 120) + "px";
      hover.style.top = Math.max(mouse.clientY - 120, 8) + "px";
      hover.hidden = false;
    });
    target.on("plotly_unhover", function () { hover.hidden = true; });
  }

  drawFigure("distance-histogram", "histogram-data");
  var scatter = drawFigure("brightness-scatter", "scatter-data");
  if (scatter) {
    openOnClick(scatter);
  }
  drawMap();
  refresh();
  updateFlagCount();
  followHash();
})();
