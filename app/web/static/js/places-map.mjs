// Place maps built by mapping/render.py (folium): this module shows them, labels places and keeps a
// drawing in step with its form. Loaded with <script type="module">, so it runs after folium's
// inline script has made the map, whose objects it finds by the names in the element's data-*.
//
// Names and types go into tooltips and pop-ups as text (textContent), never as HTML, so markup typed
// into a place's name shows as typed. Keyboard users can type a longitude and latitude instead of
// drawing; the table beside each map lists the same places.

const L = window.L;
const PLACE_STYLE = { color: '#1d70b8', weight: 4, fillColor: '#1d70b8', fillOpacity: 0.25 };

function areaBounds(container) {
  const [west, south, east, north] = (container.dataset.area || '').split(',').map(Number);
  return L.latLngBounds([south, west], [north, east]);
}

function show(container, map, bounds) {
  container.hidden = false;
  map.invalidateSize();
  if (bounds && bounds.isValid()) {
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
  } else {
    map.fitBounds(areaBounds(container));
  }
}

function letters(text) {
  const badge = document.createElement('span');
  badge.textContent = text || '•';
  badge.className = 'csmap-place-badge';
  return L.divIcon({ html: badge, className: '', iconSize: [28, 28], iconAnchor: [14, 14] });
}

function label(properties) {
  const element = document.createElement('span');
  const strong = document.createElement('strong');
  strong.textContent = properties.name || 'A place';
  element.append(strong, document.createElement('br'), properties.type_label || '');
  return element;
}

function popup(properties) {
  const element = label(properties);
  if (Number.isInteger(properties.id)) {
    const link = document.createElement('a');
    link.className = 'govuk-link';
    link.href = `/places/${properties.id}`;
    link.textContent = 'Open this place';
    element.append(document.createElement('br'), link);
  }
  return element;
}

function startPlaces(container) {
  const map = window[container.dataset.map];
  const layer = window[container.dataset.layer];
  if (!map || !layer) {
    return;
  }
  layer.eachLayer((featureLayer) => {
    const properties = (featureLayer.feature && featureLayer.feature.properties) || {};
    if (featureLayer.setIcon) {
      featureLayer.setIcon(letters(properties.icon));
      // The marker is a focusable button: name it after the place (an attribute, not markup), starting
      // with the letters it shows.
      const element = featureLayer.getElement();
      if (element) {
        const name = `${properties.name || 'A place'}, ${properties.type_label || ''}`;
        element.setAttribute('aria-label', `${properties.icon || ''} ${name}`.trim());
      }
    } else if (featureLayer.setStyle) {
      featureLayer.setStyle(PLACE_STYLE);
    }
    featureLayer.bindTooltip(label(properties));
    featureLayer.bindPopup(popup(properties));
  });
  show(container, map, layer.getBounds());
  container.dataset.drawn = String(layer.getLayers().length);
}

function describe(geometry) {
  if (!geometry) {
    return 'Nothing is drawn yet.';
  }
  if (geometry.type === 'Point') {
    const [longitude, latitude] = geometry.coordinates;
    return `A point is drawn at longitude ${longitude.toFixed(6)}, latitude ${latitude.toFixed(6)}.`;
  }
  if (geometry.type.endsWith('LineString')) {
    return 'A line is drawn.';
  }
  return 'An area is drawn.';
}

function startDrawing(container) {
  const map = window[container.dataset.map];
  const drawn = window[container.dataset.drawnItems];
  const field = document.getElementById(container.dataset.geometryInput);
  const longitude = document.getElementById('longitude');
  const latitude = document.getElementById('latitude');
  const status = document.getElementById(`${container.id}-status`);
  if (!map || !drawn || !field) {
    return;
  }

  function say(geometry) {
    if (status) {
      status.textContent = describe(geometry);
    }
  }

  function record() {
    const layers = drawn.getLayers();
    const geometry = layers.length ? layers[layers.length - 1].toGeoJSON().geometry : null;
    field.value = geometry ? JSON.stringify(geometry) : '';
    const point = geometry && geometry.type === 'Point';
    if (longitude && latitude) {
      longitude.value = point ? geometry.coordinates[0].toFixed(6) : '';
      latitude.value = point ? geometry.coordinates[1].toFixed(6) : '';
    }
    container.dataset.shape = geometry ? geometry.type : '';
    say(geometry);
  }

  function keepOnly(layer) {
    drawn.eachLayer((other) => {
      if (other !== layer) {
        drawn.removeLayer(other);
      }
    });
  }

  if (field.value) {
    try {
      L.geoJSON(JSON.parse(field.value)).eachLayer((layer) => drawn.addLayer(layer));
    } catch {
      field.value = '';
    }
  }
  // Folium's own handler has added the new layer by now: one place has one shape.
  map.on(L.Draw.Event.CREATED, (event) => {
    drawn.addLayer(event.layer);
    keepOnly(event.layer);
    record();
  });
  map.on(L.Draw.Event.EDITED, record);
  map.on(L.Draw.Event.DELETED, record);

  function typed() {
    const x = Number.parseFloat(longitude.value);
    const y = Number.parseFloat(latitude.value);
    if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > 180 || Math.abs(y) > 90) {
      return;
    }
    const marker = L.marker([y, x]);
    drawn.addLayer(marker);
    keepOnly(marker);
    field.value = JSON.stringify({ type: 'Point', coordinates: [x, y] });
    container.dataset.shape = 'Point';
    say({ type: 'Point', coordinates: [x, y] });
    map.setView([y, x], Math.max(map.getZoom(), 15));
  }
  if (longitude && latitude) {
    longitude.addEventListener('change', typed);
    latitude.addEventListener('change', typed);
  }
  show(container, map, drawn.getLayers().length ? drawn.getBounds() : null);
  container.dataset.shape = field.value ? JSON.parse(field.value).type : '';
  say(field.value ? JSON.parse(field.value) : null);
}

if (L) {
  for (const container of document.querySelectorAll('[data-role="places"][data-map]')) {
    startPlaces(container);
  }
  for (const container of document.querySelectorAll('[data-role="draw"][data-map]')) {
    startDrawing(container);
  }
}
