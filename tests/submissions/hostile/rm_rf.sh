# rm -rf of the folder given and of the scratch's parent.
parent=$(cd .. && pwd)
rm -rf "$1" 2>/dev/null
echo "ATTEMPT rm -rf given folder: exit $?"
rm -rf "$parent" 2>/dev/null
echo "ATTEMPT rm -rf parent: exit $?"
