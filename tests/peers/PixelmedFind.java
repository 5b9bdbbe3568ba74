import com.pixelmed.dicom.Attribute;
import com.pixelmed.dicom.AttributeFactory;
import com.pixelmed.dicom.AttributeList;
import com.pixelmed.dicom.AttributeTag;
import com.pixelmed.dicom.DicomDictionary;
import com.pixelmed.dicom.SOPClass;
import com.pixelmed.dicom.SpecificCharacterSet;
import com.pixelmed.network.FindSOPClassSCU;
import com.pixelmed.network.IdentifierHandler;
import java.util.ArrayList;
import java.util.List;

/**
 * A Study Root C-FIND by pixelmed's FindSOPClassSCU, with the keys given:
 * host port calledAET callingAET level Keyword[=value]...
 * Prints each response as Keyword=values lines (backslash-separated),
 * followed by an empty line.
 */
public class PixelmedFind {
    public static void main(String[] args) throws Exception {
        DicomDictionary dictionary = AttributeList.getDictionary();
        SpecificCharacterSet charset = new SpecificCharacterSet((String[]) null);
        AttributeList identifier = new AttributeList();
        List<AttributeTag> keys = new ArrayList<>();
        for (int i = 4; i < args.length; i++) {
            String[] pair = args[i].split("=", 2);
            if (i == 4) {
                pair = new String[] {"QueryRetrieveLevel", args[i]};
            }
            AttributeTag tag = dictionary.getTagFromName(pair[0]);
            Attribute attribute = AttributeFactory.newAttribute(
                tag, dictionary.getValueRepresentationFromTag(tag), charset);
            if (pair.length > 1 && !pair[1].isEmpty()) {
                attribute.addValue(pair[1]);
            }
            identifier.put(attribute);
            keys.add(tag);
        }
        IdentifierHandler printer = new IdentifierHandler() {
            @Override
            public void doSomethingWithIdentifier(AttributeList response) {
                for (AttributeTag tag : keys) {
                    System.out.println(dictionary.getNameFromTag(tag) + "="
                        + Attribute.getDelimitedStringValuesOrEmptyString(response, tag));
                }
                System.out.println();
            }
        };
        new FindSOPClassSCU(args[0], Integer.parseInt(args[1]), args[2], args[3],
            SOPClass.StudyRootQueryRetrieveInformationModelFind, identifier, printer);
    }
}
