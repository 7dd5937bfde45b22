// The in-record map of where a young person went missing from and was found, loaded with
// <script type="module" src="/static/js/missing-map.mjs"> after Leaflet's ordinary script.
//
// There is no basemap: tiles would come from another origin, which the Content-Security-Policy
// (and the record's sensitivity) rule out. Only the recorded places are drawn, as circle markers
// coloured by kind, with a dashed line joining the two ends of each episode. The table beside the
// map lists the same places for screen-reader and keyboard users. Names go into the map as text,
// never as HTML.

const KINDS = {
  missing_from: {
    label: 'Went missing from',
    marker: { radius: 8, color: '#0b0c0c', weight: 2, fillColor: '#d4351c', fillOpacity: 1 },
  },
  found_at: {
    label: 'Found at',
    marker: { radius: 7, color: '#1d70b8', weight: 4, fillColor: '#ffffff', fillOpacity: 1 },
  },
};
const LINK = { color: '#505a5f', weight: 2, dashArray: '6 6', interactive: false };

const container = document.getElementById('missing-map');
const status = document.getElementById('missing-map-status');

function say(text) {
  if (status) {
    status.textContent = text;
  }
}

function when(iso) {
  if (!iso) {
    return '';
  }
  return new Date(iso).toLocaleString('en-GB', {
    timeZone: 'Europe/London',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

function tooltip(properties) {
  const kind = KINDS[properties.kind] || KINDS.missing_from;
  const element = document.createElement('span');
  const strong = document.createElement('strong');
  strong.textContent = kind.label;
  element.append(strong, document.createElement('br'));
  element.append(properties.place_name || 'A recorded place');
  if (properties.at) {
    element.append(document.createElement('br'), when(properties.at));
  }
  return element;
}

function draw(L, collection) {
  const features = Array.isArray(collection.features) ? collection.features : [];
  if (features.length === 0) {
    container.hidden = true;
    say('No places have been recorded for these episodes.');
    return;
  }
  const map = L.map(container, {
    attributionControl: false,
    zoomSnap: 0.5,
    scrollWheelZoom: false,
    keyboard: true,
  });
  const ends = new Map();
  const layer = L.geoJSON(collection, {
    pointToLayer: (feature, latlng) =>
      L.circleMarker(latlng, (KINDS[feature.properties.kind] || KINDS.missing_from).marker),
    // Leaflet applies `style` to the circle markers too, so points keep their marker style.
    style: (feature) => {
      const marker = (KINDS[feature.properties.kind] || KINDS.missing_from).marker;
      if (feature.geometry && feature.geometry.type === 'Point') {
        return marker;
      }
      return { color: marker.color, weight: 3, fillColor: marker.fillColor, fillOpacity: 0.3 };
    },
    onEachFeature: (feature, featureLayer) => {
      featureLayer.bindTooltip(tooltip(feature.properties));
      if (feature.geometry && feature.geometry.type === 'Point') {
        const [longitude, latitude] = feature.geometry.coordinates;
        const episode = ends.get(feature.properties.episode_id) || {};
        episode[feature.properties.kind] = [latitude, longitude];
        ends.set(feature.properties.episode_id, episode);
      }
    },
  });
  for (const episode of ends.values()) {
    if (episode.missing_from && episode.found_at) {
      L.polyline([episode.missing_from, episode.found_at], LINK).addTo(map);
    }
  }
  layer.addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [32, 32], maxZoom: 16 });
  }
  container.dataset.drawn = String(features.length);
  say(`${features.length} ${features.length === 1 ? 'place is' : 'places are'} shown on the map.`);
}

async function start() {
  const L = window.L;
  if (!container || !L) {
    return;
  }
  say('Loading the map…');
  try {
    const response = await fetch(container.dataset.placesUrl, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) {
      throw new Error(`status ${response.status}`);
    }
    draw(L, await response.json());
  } catch {
    container.hidden = true;
    say('The map could not be loaded. The table lists the same places.');
  }
}

start();
