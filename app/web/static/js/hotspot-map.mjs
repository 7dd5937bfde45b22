// The hotspot map built by mapping/render.py (folium): this module draws the cells from the page's JSON
// element, steps through months, fetches the places, small-area and agency layers when they are
// switched on, and turns a drawn area into the form's area filter. Loaded with <script type="module">,
// so it runs after folium's inline script has made the map, whose objects it finds by the names in
// the element's data-* attributes.
//
// The table beside the map is written here from the same data, so that the page carries each number
// once. Everything in pop-ups and the table is added as text (textContent), never as HTML. Each cell is
// placed from its id: its centre in British National Grid metres, plus the grid's shared outline,
// turned into degrees by the polynomial the server fitted (or given in degrees when none fitted).

const L = window.L;
const CELL_STYLE = { color: '#505a5f', weight: 0.5, fillOpacity: 0.75 };
const AREA_COLOUR = '#4c2c92';
const AGENCY_COLOUR = '#00703c';

function element(tag, text) {
  const made = document.createElement(tag);
  if (text !== undefined) {
    made.textContent = text;
  }
  return made;
}

function monthWords(month) {
  const [year, number] = month.split('-').map(Number);
  return new Date(Date.UTC(year, number - 1, 1)).toLocaleString('en-GB', {
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

// Cells ---------------------------------------------------------------------------------------
// A set of cells is `records` (each cell's figures, for its pop-up and its table row) and their
// outlines as one run of vertices: cell k's ring is vertices starts[k] to starts[k + 1] - 1 of `lon`
// and `lat`. Typed arrays and one canvas drawing keep thousands of cells cheap to build and paint.

// The server's polynomial from British National Grid metres to degrees, as a function writing the
// vertex `at` of `into` (the terms are u**i * v**j, u and v in km from the grid's middle).
function polynomial(fit) {
  const degree = Math.max(...fit.terms.map(([i, j]) => i + j));
  const us = new Float64Array(degree + 1);
  const vs = new Float64Array(degree + 1);
  const is = fit.terms.map(([i]) => i);
  const js = fit.terms.map(([, j]) => j);
  return (x, y, into, at) => {
    us[0] = 1;
    vs[0] = 1;
    const u = (x - fit.middle[0]) / 1000;
    const v = (y - fit.middle[1]) / 1000;
    for (let power = 1; power <= degree; power += 1) {
      us[power] = us[power - 1] * u;
      vs[power] = vs[power - 1] * v;
    }
    let longitude = 0;
    let latitude = 0;
    for (let term = 0; term < is.length; term += 1) {
      const value = us[is[term]] * vs[js[term]];
      longitude += fit.lon[term] * value;
      latitude += fit.lat[term] * value;
    }
    into.lon[at] = longitude;
    into.lat[at] = latitude;
  };
}

function outlines(count, vertices) {
  return { starts: new Uint32Array(count + 1), lon: new Float64Array(vertices), lat: new Float64Array(vertices) };
}

// The page's own cells: each placed from its id, the grid's shared outline and the fitted polynomial
// (or given in degrees when none fitted).
function pageCells(data) {
  const { cells, layout } = data;
  const count = cells.id.length;
  const corners = layout.rings ? null : layout.ring.length;
  const vertices = corners ? count * corners : cells.id.reduce((sum, id) => sum + layout.rings[String(id)].length, 0);
  const shape = outlines(count, vertices);
  const place = layout.rings ? null : polynomial(layout.fit);
  let at = 0;
  const records = cells.id.map((id, index) => {
    shape.starts[index] = at;
    if (place) {
      const row = Math.floor(id / layout.columns);
      const shift = row % 2 ? layout.odd_row_shift : 0;
      const x = layout.origin[0] + layout.first_centre[0] + ((id % layout.columns) + shift) * layout.size;
      const y = layout.origin[1] + layout.first_centre[1] + row * layout.row_spacing;
      for (const [dx, dy] of layout.ring) {
        place(x + dx, y + dy, shape, at);
        at += 1;
      }
    } else {
      for (const [longitude, latitude] of layout.rings[String(id)]) {
        shape.lon[at] = longitude;
        shape.lat[at] = latitude;
        at += 1;
      }
    }
    return {
      cell_id: id,
      count: cells.count[index],
      rate: cells.rate[index],
      bin: cells.bin[index],
      trend: cells.trend[index] === null ? null : data.trends[cells.trend[index]],
      z: cells.z ? cells.z[index] : undefined,
      p: cells.p ? cells.p[index] : undefined,
    };
  });
  shape.starts[count] = at;
  return { records, ...shape };
}

function trendWords(code) {
  return code ? code.charAt(0).toUpperCase() + code.slice(1).replaceAll('_', ' ') : 'No trend';
}

// A cell of /api/hotspots (analyst or partner members) as the page's record.
function apiRecord(properties) {
  const p = properties;
  return {
    cell_id: p.cell_id,
    count: p.count,
    rate: p.rate,
    bin: p.gi_bin ?? p.bin ?? 0,
    trend: p.trend ? trendWords(p.trend) : null,
    z: p.gi_z === undefined ? undefined : p.gi_z.toFixed(2),
    p: p.gi_p_fdr === undefined ? undefined : Number(p.gi_p_fdr.toPrecision(3)).toString(),
  };
}

function worthShowing(record) {
  const trend = record.trend && record.trend !== 'No pattern';
  return (record.count || 0) > 0 || record.bin !== 0 || Boolean(trend);
}

function hottestFirst(left, right) {
  return right.bin - left.bin || (right.count || 0) - (left.count || 0) || left.cell_id - right.cell_id;
}

// The cells of an /api/hotspots answer worth showing, hottest first, outlined as the API draws them.
function apiCells(features) {
  const kept = features
    .map((feature) => ({ record: apiRecord(feature.properties), ring: feature.geometry.coordinates[0] }))
    .filter((cell) => worthShowing(cell.record));
  kept.sort((a, b) => hottestFirst(a.record, b.record));
  const shape = outlines(kept.length, kept.reduce((sum, cell) => sum + cell.ring.length, 0));
  let at = 0;
  kept.forEach((cell, index) => {
    shape.starts[index] = at;
    for (const [longitude, latitude] of cell.ring) {
      shape.lon[at] = longitude;
      shape.lat[at] = latitude;
      at += 1;
    }
  });
  shape.starts[kept.length] = at;
  return { records: kept.map((cell) => cell.record), ...shape };
}

// Leaflet's EPSG:3857 at zoom 0 (L.CRS.EPSG3857.latLngToPoint(latlng, 0)) over whole arrays at once.
function webMercator(lon, lat, xs, ys) {
  const limit = L.Projection.SphericalMercator.MAX_LATITUDE;
  for (let at = 0; at < lon.length; at += 1) {
    const sin = Math.sin((Math.max(Math.min(limit, lat[at]), -limit) * Math.PI) / 180);
    xs[at] = 256 * (0.5 + lon[at] / 360);
    ys[at] = 256 * (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI));
  }
}

function boundsOf({ lon, lat }) {
  let [west, south, east, north] = [180, 90, -180, -90];
  for (let at = 0; at < lon.length; at += 1) {
    west = Math.min(west, lon[at]);
    east = Math.max(east, lon[at]);
    south = Math.min(south, lat[at]);
    north = Math.max(north, lat[at]);
  }
  return L.latLngBounds([south, west], [north, east]);
}

// All the cells on one canvas: a Leaflet renderer (so it is placed, sized and zoom-animated as Leaflet's
// own canvas is) that paints every cell of a bin as one path, then every outline as one stroke, instead
// of one Leaflet polygon per cell. A click on a cell opens its pop-up; a cell under the pointer shows a
// pointer cursor.
const CellCanvas = L.Renderer.extend({
  initialize(options) {
    L.Renderer.prototype.initialize.call(this, options);
    this._cells = { records: [], ...outlines(0, 0) };
    this._colours = new Map();
    this._project();
  },

  // Draw these cells (see pageCells), coloured by bin; `popup(record)` gives a cell's pop-up content.
  setCells(cells, colours, popup) {
    this._cells = cells;
    this._colours = colours;
    this._popup = popup;
    this._project();
    if (this._map) {
      this._draw();
    }
    return this;
  },

  cellCount() {
    return this._cells.records.length;
  },

  // A cell's record and its ring as [longitude, latitude] pairs.
  cell(index) {
    const { starts, lon, lat, records } = this._cells;
    const ring = [];
    for (let at = starts[index]; at < starts[index + 1]; at += 1) {
      ring.push([lon[at], lat[at]]);
    }
    return { record: records[index], ring };
  },

  getBounds() {
    return boundsOf(this._cells);
  },

  // The index of the cell holding a layer point, or -1.
  cellAt(point) {
    const { x, y } = this._unitOf(point);
    const { starts, records } = this._cells;
    const [xs, ys, box] = [this._xs, this._ys, this._boxes];
    for (let index = 0; index < records.length; index += 1) {
      const b = index * 4;
      if (x >= box[b] && x <= box[b + 2] && y >= box[b + 1] && y <= box[b + 3]) {
        let inside = false;
        const [first, last] = [starts[index], starts[index + 1]];
        for (let at = first, before = last - 1; at < last; before = at, at += 1) {
          if (ys[at] > y !== ys[before] > y && x < ((xs[before] - xs[at]) * (y - ys[at])) / (ys[before] - ys[at]) + xs[at]) {
            inside = !inside;
          }
        }
        if (inside) {
          return index;
        }
      }
    }
    return -1;
  },

  getEvents() {
    const events = L.Renderer.prototype.getEvents.call(this);
    events.click = this._onMapClick;
    events.mousemove = this._onMapMouseMove;
    return events;
  },

  // Every vertex in the CRS's pixels at zoom 0, and each cell's box there: a zoom only scales them.
  _project() {
    const { starts, lon, lat, records } = this._cells;
    const crs = (this._map && this._map.options.crs) || L.CRS.EPSG3857;
    const [xs, ys] = [new Float64Array(lon.length), new Float64Array(lon.length)];
    if (crs === L.CRS.EPSG3857) {
      webMercator(lon, lat, xs, ys);
    } else {
      for (let at = 0; at < lon.length; at += 1) {
        const point = crs.latLngToPoint({ lat: lat[at], lng: lon[at] }, 0);
        xs[at] = point.x;
        ys[at] = point.y;
      }
    }
    const boxes = new Float64Array(records.length * 4);
    for (let index = 0; index < records.length; index += 1) {
      let [west, north, east, south] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let at = starts[index]; at < starts[index + 1]; at += 1) {
        west = xs[at] < west ? xs[at] : west;
        east = xs[at] > east ? xs[at] : east;
        north = ys[at] < north ? ys[at] : north;
        south = ys[at] > south ? ys[at] : south;
      }
      boxes[index * 4] = west;
      boxes[index * 4 + 1] = north;
      boxes[index * 4 + 2] = east;
      boxes[index * 4 + 3] = south;
    }
    [this._xs, this._ys, this._boxes] = [xs, ys, boxes];
    // Coldest bin first, so the hottest cells' outlines are drawn last, on top.
    const byBin = new Map();
    records.forEach((record, index) => {
      const members = byBin.get(record.bin) || [];
      members.push(index);
      byBin.set(record.bin, members);
    });
    this._byBin = new Map([...byBin].sort(([low], [high]) => low - high));
  },

  _unitOf(point) {
    const map = this._map;
    const scale = map.options.crs.scale(map.getZoom()) / map.options.crs.scale(0);
    const origin = map.getPixelOrigin();
    return { x: (point.x + origin.x) / scale, y: (point.y + origin.y) / scale };
  },

  _initContainer() {
    this._container = document.createElement('canvas');
    this._ctx = this._container.getContext('2d');
  },

  _destroyContainer() {
    L.DomUtil.remove(this._container);
    delete this._ctx;
    delete this._container;
  },

  // As L.Canvas: the canvas covers the view and its padding; it is drawn again after every move.
  _update() {
    if (this._map._animatingZoom && this._bounds) {
      return;
    }
    L.Renderer.prototype._update.call(this);
    const size = this._bounds.getSize();
    const ratio = L.Browser.retina ? 2 : 1;
    L.DomUtil.setPosition(this._container, this._bounds.min);
    this._container.width = ratio * size.x;
    this._container.height = ratio * size.y;
    this._container.style.width = `${size.x}px`;
    this._container.style.height = `${size.y}px`;
    this._draw();
  },

  // Each bin's cells as one path, filled then outlined, at whole pixels as Leaflet places its own
  // vector layers. Rings are closed (their last vertex is their first), so no
  // closePath(), which costs Chromium time in proportion to the path's length.
  _draw() {
    const ctx = this._ctx;
    const map = this._map;
    const ratio = L.Browser.retina ? 2 : 1;
    const scale = map.options.crs.scale(map.getZoom()) / map.options.crs.scale(0);
    const origin = map.getPixelOrigin();
    const [left, top] = [origin.x + this._bounds.min.x, origin.y + this._bounds.min.y];
    const { starts } = this._cells;
    const [xs, ys] = [this._xs, this._ys];
    const trace = (index) => {
      for (let at = starts[index]; at < starts[index + 1]; at += 1) {
        const x = Math.round(xs[at] * scale) - left;
        const y = Math.round(ys[at] * scale) - top;
        if (at === starts[index]) {
          ctx.moveTo(x, y);
        } else {
          ctx.lineTo(x, y);
        }
      }
    };
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, this._container.width, this._container.height);
    ctx.lineWidth = CELL_STYLE.weight;
    ctx.strokeStyle = CELL_STYLE.color;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    for (const [bin, members] of this._byBin) {
      ctx.beginPath();
      members.forEach(trace);
      ctx.globalAlpha = CELL_STYLE.fillOpacity;
      ctx.fillStyle = this._colours.get(bin) || CELL_STYLE.color;
      ctx.fill('evenodd');
      ctx.globalAlpha = 1;
      ctx.stroke();
    }
  },

  // Only a click on the map's canvases themselves: not one on a marker, nor one that places a corner
  // of an area being drawn (Leaflet.draw's pointer marker is on top then).
  _onMapClick(event) {
    const target = event.originalEvent && event.originalEvent.target;
    if (!this._popup || !(target instanceof HTMLCanvasElement) || this._map.dragging.moved()) {
      return;
    }
    const index = this.cellAt(event.layerPoint);
    if (index >= 0) {
      L.popup().setLatLng(event.latlng).setContent(this._popup(this._cells.records[index])).openOn(this._map);
    }
  },

  _onMapMouseMove(event) {
    if (this._container && !this._map.dragging.moving()) {
      this._container.classList.toggle('leaflet-interactive', this.cellAt(event.layerPoint) >= 0);
    }
  },
});

function facts(data, properties) {
  const bin = data.bins.find((entry) => entry.value === properties.bin);
  const lines = [
    `Cell ${properties.cell_id}`,
    `Count: ${properties.count === null ? data.hidden : properties.count}`,
    `Per km²: ${properties.rate === null ? data.hidden : properties.rate}`,
    bin ? bin.label : 'Not significant',
    `Trend: ${properties.trend || 'No trend'}`,
  ];
  if (properties.z !== undefined && properties.z !== null) {
    lines.push(`Gi* z: ${properties.z}, p (FDR): ${properties.p}`);
  }
  return lines;
}

function popupOf(lines) {
  const box = element('span');
  lines.forEach((line, index) => {
    if (index) {
      box.append(element('br'));
    }
    box.append(index === 0 ? element('strong', line) : line);
  });
  return box;
}

// The cells' canvas, made once and kept in the map's "Hot and cold spots" layer, so the layer
// control shows and hides it.
function drawCells(layer, data, cells) {
  const colours = new Map(data.bins.map((entry) => [entry.value, entry.colour]));
  const canvas = layer.csmapCanvas || new CellCanvas();
  canvas.setCells(cells, colours, (record) => popupOf(facts(data, record)));
  if (!layer.csmapCanvas) {
    layer.csmapCanvas = canvas;
    layer.addLayer(canvas);
  }
}

function tableRow(data, properties) {
  const row = element('tr');
  const cells = facts(data, properties);
  const header = element('th', String(properties.cell_id));
  header.scope = 'row';
  row.append(header);
  const count = element('td', properties.count === null ? data.hidden : String(properties.count));
  const rate = element('td', properties.rate === null ? '' : String(properties.rate));
  count.className = 'n';
  rate.className = 'n';
  row.append(count, rate, element('td', cells[3]), element('td', properties.trend || 'No trend'));
  if (data.audience === 'analyst') {
    const z = element('td', properties.z === undefined ? '' : String(properties.z));
    const p = element('td', properties.p === undefined ? '' : String(properties.p));
    z.className = 'n';
    p.className = 'n';
    row.append(z, p);
  }
  return row;
}

const TABLE_CHUNK = 1000;
let tableRun = 0;

// The table is written after the map has painted, a chunk of rows per frame, so a map of thousands of
// cells shows at once and the page stays responsive while its table fills in.
function fillTable(data, records, done) {
  const body = document.querySelector('#cells-table tbody');
  const caption = document.getElementById('cells-caption');
  if (!body) {
    return;
  }
  tableRun += 1;
  const run = tableRun;
  body.replaceChildren();
  body.closest('table').setAttribute('aria-busy', 'true');
  if (caption) {
    const count = records.length;
    caption.textContent = `${count} cell${count === 1 ? '' : 's'}: the significant ones and every cell with a count`;
  }
  let next = 0;
  function chunk() {
    if (run !== tableRun) {
      return;
    }
    const rows = document.createDocumentFragment();
    const end = Math.min(records.length, next + TABLE_CHUNK);
    for (; next < end; next += 1) {
      rows.append(tableRow(data, records[next]));
    }
    body.append(rows);
    if (next < records.length) {
      requestAnimationFrame(chunk);
    } else {
      body.closest('table').removeAttribute('aria-busy');
      if (done) {
        done();
      }
    }
  }
  requestAnimationFrame(chunk);
}

function summary(records) {
  const hot = records.filter((record) => record.bin > 0).length;
  const cold = records.filter((record) => record.bin < 0).length;
  return `${records.length} cells drawn: ${hot} hot spots and ${cold} cold spots at 90% confidence or more.`;
}

// The month slider ----------------------------------------------------------------------------

function startSlider(context) {
  const slider = document.getElementById('month-slider');
  const shown = document.getElementById('month-shown');
  if (!slider || !context.data.layers.slice) {
    return;
  }
  const months = context.data.months;
  const whole = shown ? shown.textContent : '';
  let asked = 0;

  async function showMonth() {
    const position = Number(slider.value);
    asked += 1;
    const mine = asked;
    if (position === 0) {
      context.redraw(context.original, whole);
      return;
    }
    const month = months[position - 1];
    shown.textContent = `${monthWords(month)}: loading…`;
    const url = `${context.data.layers.slice}&from=${month}&to=${month}`;
    try {
      const response = await fetch(url, { headers: { Accept: 'application/geo+json' } });
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const body = await response.json();
      if (mine !== asked) {
        return;
      }
      context.redraw(apiCells(body.features), `${monthWords(month)} only`);
    } catch {
      if (mine === asked) {
        shown.textContent = `${monthWords(month)} could not be loaded. Try again.`;
      }
    }
  }

  slider.addEventListener('change', showMonth);
  slider.disabled = false;
}

// Layers fetched when switched on --------------------------------------------------------------

function letters(text, name) {
  const badge = element('span', text || '•');
  badge.className = 'csmap-place-badge';
  badge.setAttribute('aria-hidden', 'true');
  badge.dataset.name = name;
  return L.divIcon({ html: badge, className: '', iconSize: [28, 28], iconAnchor: [14, 14] });
}

async function fetchJson(url, say) {
  const response = await fetch(url, { headers: { Accept: 'application/geo+json' } });
  if (!response.ok) {
    say('That layer could not be loaded. Try again.');
    throw new Error(String(response.status));
  }
  return response.json();
}

async function loadPlaces(cluster, url, say) {
  const body = await fetchJson(url, say);
  const markers = body.features.map((feature) => {
    const [longitude, latitude] = feature.geometry.coordinates;
    const p = feature.properties;
    const name = `${p.icon || ''} ${p.name || 'A place'}, ${p.type_label || ''}`.trim();
    const marker = L.marker([latitude, longitude], { icon: letters(p.icon, name), keyboard: true });
    marker.on('add', () => {
      const node = marker.getElement();
      if (node) {
        node.setAttribute('aria-label', name);
      }
    });
    marker.bindPopup(() => popupOf([p.name || 'A place', p.type_label || '']));
    return marker;
  });
  cluster.addLayers(markers);
  say(`${markers.length} places shown, grouped where they are close together.`);
}

async function loadAreas(layer, url, say) {
  const body = await fetchJson(url, say);
  layer.options.pane = 'csmap-areas';
  layer.options.style = (feature) => {
    const decile = feature.properties.imd_decile;
    const shade = decile ? 0.08 + (10 - decile) * 0.06 : 0;
    return { color: AREA_COLOUR, weight: 1, fillColor: AREA_COLOUR, fillOpacity: shade };
  };
  layer.options.onEachFeature = (feature, area) => {
    const p = feature.properties;
    const decile = p.imd_decile ? `Deprivation decile ${p.imd_decile} (1 is the most deprived)` : 'No decile';
    area.bindPopup(() => popupOf([p.name || p.code, p.code, decile]));
  };
  layer.addData(body);
  say(`${body.features.length} small areas shaded by deprivation decile.`);
}

const RATE_COLOUR = '#912b88';

function figure(value) {
  return Number(value).toLocaleString('en-GB', { maximumFractionDigits: 1 });
}
const RATE_CLASSES = 5;

// Class breaks at the quintiles of the rates shown (hidden and unknown rates take no class).
function rateBreaks(rates) {
  const sorted = rates.filter((rate) => rate !== null).sort((a, b) => a - b);
  if (!sorted.length) {
    return [];
  }
  const breaks = [];
  for (let k = 1; k < RATE_CLASSES; k += 1) {
    breaks.push(sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / RATE_CLASSES))]);
  }
  return [...new Set(breaks)].filter((edge) => edge > 0);
}

function rateLines(p, hidden) {
  const count = p.count === null ? `Records: ${hidden || 'hidden'}` : `Records: ${p.count}`;
  const people = p.young_people === null ? 'Young people: not known' : `Young people: ${Math.round(p.young_people)}`;
  const rate = p.rate_per_1000 === null ? 'Rate: not shown' : `Rate per 1,000 young people: ${figure(p.rate_per_1000)}`;
  return [p.name || p.code, p.code, count, people, rate];
}

// The bands beside the map: a swatch and the range of rates each shade stands for.
function showRateLegend(breaks) {
  const legend = document.getElementById('rate-legend');
  if (!legend || !breaks.length) {
    return;
  }
  const edges = [0, ...breaks];
  legend.replaceChildren(
    ...edges.map((low, step) => {
      const item = document.createElement('li');
      const swatch = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      swatch.setAttribute('width', '24');
      swatch.setAttribute('height', '16');
      swatch.setAttribute('aria-hidden', 'true');
      const box = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      box.setAttribute('width', '24');
      box.setAttribute('height', '16');
      box.setAttribute('fill', RATE_COLOUR);
      box.setAttribute('fill-opacity', String(0.1 + step * 0.15));
      swatch.append(box);
      const high = step + 1 < edges.length ? ` to under ${figure(edges[step + 1])}` : ' and over';
      item.append(swatch, `${figure(low)}${high} per 1,000`);
      return item;
    }),
  );
  legend.hidden = false;
}

async function loadRates(layer, url, say) {
  const body = await fetchJson(url, say);
  const breaks = rateBreaks(body.features.map((feature) => feature.properties.rate_per_1000));
  layer.options.pane = 'csmap-areas';
  layer.options.style = (feature) => {
    const rate = feature.properties.rate_per_1000;
    const step = rate === null ? -1 : breaks.filter((edge) => rate >= edge).length;
    const shade = step < 0 ? 0 : 0.1 + step * 0.15;
    return { color: RATE_COLOUR, weight: 1, fillColor: RATE_COLOUR, fillOpacity: shade, dashArray: step < 0 ? '4 4' : null };
  };
  layer.options.onEachFeature = (feature, area) => {
    area.bindPopup(() => popupOf(rateLines(feature.properties, body.hidden_label)));
  };
  layer.addData(body);
  showRateLegend(breaks);
  const unshaded = body.features.filter((feature) => feature.properties.rate_per_1000 === null).length;
  const [from, to] = body.window || ['', ''];
  say(
    `${body.features.length} small areas shaded by the map's records per 1,000 young people, ${from} to ${to}, ` +
      `in ${RATE_CLASSES} bands of equal size; ${unshaded} not shaded (hidden or population not known).`,
  );
}

async function loadAgency(layer, url, say) {
  const body = await fetchJson(url, say);
  const features = body.features.filter((feature) => (feature.properties.count || 0) > 0);
  const most = Math.max(1, ...features.map((feature) => feature.properties.count));
  layer.options.pane = 'csmap-agency';
  layer.options.style = (feature) => ({
    color: AGENCY_COLOUR,
    weight: 0.5,
    fillColor: AGENCY_COLOUR,
    fillOpacity: 0.15 + (0.7 * Math.log(feature.properties.count + 1)) / Math.log(most + 1),
  });
  layer.options.onEachFeature = (feature, cell) => {
    const p = feature.properties;
    cell.bindPopup(() => popupOf([`Cell ${p.cell_id}`, `Your agency's concerns: ${p.count}`]));
  };
  layer.addData({ type: 'FeatureCollection', features });
  say(`${features.length} cells hold concerns your agency recorded.`);
}

function startLayers(context) {
  const { map, data, container, say } = context;
  const loaders = new Map();
  const places = window[container.dataset.places];
  const areas = window[container.dataset.areas];
  const agency = container.dataset.agency ? window[container.dataset.agency] : null;
  map.createPane('csmap-areas').style.zIndex = 350;
  map.createPane('csmap-agency').style.zIndex = 380;
  if (places) {
    loaders.set(places, () => loadPlaces(places, data.layers.places, say));
  }
  if (areas) {
    loaders.set(areas, () => loadAreas(areas, data.layers.areas, say));
  }
  const rates = container.dataset.rates ? window[container.dataset.rates] : null;
  if (rates && data.layers.rates) {
    loaders.set(rates, () => loadRates(rates, data.layers.rates, say));
  }
  if (agency && data.layers.agency) {
    loaders.set(agency, () => loadAgency(agency, data.layers.agency, say));
  }
  const loaded = new Set();
  map.on('overlayadd', (event) => {
    const load = loaders.get(event.layer);
    if (load && !loaded.has(event.layer)) {
      loaded.add(event.layer);
      say('Loading the layer…');
      load()
        .then(() => {
          container.dataset.layersLoaded = String(loaded.size);
        })
        .catch(() => loaded.delete(event.layer));
    }
  });
}

// The drawn area filter -----------------------------------------------------------------------
// A polygon or a rectangle drawn on the map fills the form's hidden `area` field with its GeoJSON
// (six decimals) and the map is asked for again: the server counts and tests the cells that meet
// it. A page opened with an area (or an older bbox) draws that outline again, dashed.

const OUTLINE_STYLE = { color: '#0b0c0c', weight: 2, dashArray: '6 4', fill: false, interactive: false };

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function rounded(value) {
  return Number(value.toFixed(6));
}

// A rectangle is kept to the map's area; any other shape must already lie inside it.
function drawnGeometry(layer, [minX, minY, maxX, maxY]) {
  if (layer instanceof L.Rectangle) {
    const bounds = layer.getBounds();
    const west = rounded(clamp(bounds.getWest(), minX, maxX));
    const east = rounded(clamp(bounds.getEast(), minX, maxX));
    const south = rounded(clamp(bounds.getSouth(), minY, maxY));
    const north = rounded(clamp(bounds.getNorth(), minY, maxY));
    if (!(west < east && south < north)) {
      return null;
    }
    const ring = [[west, south], [east, south], [east, north], [west, north], [west, south]];
    return { type: 'Polygon', coordinates: [ring] };
  }
  const geometry = layer.toGeoJSON().geometry;
  const rings = geometry.coordinates.map((ring) => ring.map(([x, y]) => [rounded(x), rounded(y)]));
  const within = ([x, y]) => x >= minX && x <= maxX && y >= minY && y <= maxY;
  const inside = rings.every((ring) => ring.every(within));
  return inside ? { type: 'Polygon', coordinates: rings } : null;
}

function redrawFilter(drawn, data) {
  if (data.area) {
    const outline = L.geoJSON(data.area, { style: () => OUTLINE_STYLE, interactive: false });
    outline.eachLayer((layer) => drawn.addLayer(layer));
  } else if (data.bbox) {
    const [west, south, east, north] = data.bbox;
    drawn.addLayer(
      L.rectangle(
        [
          [south, west],
          [north, east],
        ],
        OUTLINE_STYLE,
      ),
    );
  }
}

function startDrawing(context) {
  const { map, container, data, say } = context;
  const drawn = window[container.dataset.drawnItems];
  const field = document.getElementById('area');
  const bbox = document.getElementById('bbox');
  const form = document.getElementById('map-form');
  if (!drawn || !field || !form) {
    return;
  }
  redrawFilter(drawn, data);
  container.dataset.areaDrawn = String(drawn.getLayers().length);
  const limits = (container.dataset.area || '').split(',').map(Number);
  map.on(L.Draw.Event.CREATED, (event) => {
    const geometry = drawnGeometry(event.layer, limits);
    if (!geometry) {
      say('The area drawn reaches outside the map’s area: draw it again.');
      return;
    }
    field.value = JSON.stringify(geometry);
    if (bbox) {
      bbox.value = '';
    }
    say('Showing the cells that meet the area drawn…');
    form.submit();
  });
}

// Start ---------------------------------------------------------------------------------------

function start(container) {
  const map = window[container.dataset.map];
  const cells = window[container.dataset.cells];
  const source = document.getElementById(container.dataset.source);
  if (!map || !cells || !source) {
    return;
  }
  const data = JSON.parse(source.textContent);
  const status = document.getElementById(`${container.id}-status`);
  const month = document.getElementById('month-shown');
  const say = (text) => {
    if (status) {
      status.textContent = text;
    }
  };
  const original = pageCells(data);
  const context = {
    map,
    data,
    container,
    say,
    original,
    redraw(shown, label) {
      drawCells(cells, data, shown);
      fillTable(data, shown.records);
      container.dataset.drawn = String(shown.records.length);
      container.dataset.month = label;
      if (month) {
        month.textContent = label;
      }
      say(summary(shown.records));
    },
  };
  // Frame the cells before drawing them, so that they are drawn once.
  container.hidden = false;
  map.invalidateSize();
  const bounds = boundsOf(original);
  map.fitBounds(bounds.isValid() ? bounds : L.latLngBounds([[-85, -180], [85, 180]]), { padding: [12, 12], animate: false });
  drawCells(cells, data, original);
  container.dataset.drawn = String(original.records.length);
  say(summary(original.records));
  // The next frame is the first with the cells. A message posted from its animation-frame callback is
  // handled once that frame has been painted (style, layout, paint and commit come first): marked then,
  // for measuring the page.
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      performance.mark('csmap-map-painted');
      fillTable(data, original.records, () => performance.mark('csmap-table-written'));
    };
    channel.port2.postMessage(null);
  });
  startSlider(context);
  startLayers(context);
  startDrawing(context);
}

if (L) {
  for (const container of document.querySelectorAll('[data-role="hotspots"][data-map]')) {
    start(container);
  }
}
